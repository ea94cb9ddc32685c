"""What users read: text tables now; plots and traces build on the same results."""
