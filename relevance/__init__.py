"""The contract shared by training and serving: labels, prompts, parsing, scoring, manifests, engines."""
