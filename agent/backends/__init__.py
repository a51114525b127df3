"""Model backends: each turns a prepared prompt and image into the model's reply text."""
