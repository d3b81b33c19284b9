"""Quality control: inspection data, tolerance specs, conformity decisions, reports."""
