"""One router module per resource; each route is thin and calls the service layer."""
