//! Directory listings: MLSx fact lines, LIST parsers and formatters.
