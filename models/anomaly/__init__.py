"""The anomaly-detection model: a VAE whose encoder is deployed, its inputs, data, training and evaluation."""
