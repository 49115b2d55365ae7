"""Template mining: masking, deduplication and drain3 with ids stable across batches, partitions and runs."""
