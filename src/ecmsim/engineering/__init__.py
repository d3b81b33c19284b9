"""Process engineering on top of the simulator: sweeps, parameter search, calibration, plots."""
