"""Command modules of the ``logrca`` CLI; each defines ``register(app, eval_app)``."""
