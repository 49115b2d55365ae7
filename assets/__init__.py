"""Stage 4, Dagster wiring: assets, checks, resources, partitions and the composed config. Thin: every
asset calls one domain function of the stages below."""
