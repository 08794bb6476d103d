"""Operations: Redis ACL users, effective settings, health and metrics endpoints."""
