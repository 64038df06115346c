"""Side-by-side benchmark of Scaler and its peers (see bench/README.md)."""
