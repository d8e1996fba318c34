//! The report's pictures (SVG) and files.
