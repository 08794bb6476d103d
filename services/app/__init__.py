"""The service layer: use cases as handlers taking ports; entry points stay thin."""
