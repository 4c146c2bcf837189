"""Training: LoRA SFT and preference tuning on MLX, built on mlx-lm's tuner."""
