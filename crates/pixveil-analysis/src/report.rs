//! The `pixveil analyze --all` report (placeholder, filled below).
