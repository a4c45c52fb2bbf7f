"""Layer Studio: design, check, train and export neural networks visually."""
