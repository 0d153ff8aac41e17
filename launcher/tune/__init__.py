"""`launch tune`: hyperparameter tuning, locally (Optuna) and on SageMaker."""
