"""One `render_<thing>(trace, ...)` per view; each calls one or two pure builders and never re-runs the model."""
