//! Training, the model registry, prediction and evaluation (linfa). Built by the learning issue.
