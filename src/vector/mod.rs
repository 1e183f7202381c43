//! The `VectorIndex` trait and its qdrant-edge and Qdrant-server backends. Built by the next-best-actions issue.
