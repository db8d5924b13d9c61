"""Background jobs run by the scheduler inside `appliance serve` (one leader per installation)."""
