"""Layer Studio: design, check, train and export neural networks visually."""

APP_NAME = "Layer Studio"  # the name windows, dialogs and settings show
