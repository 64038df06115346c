"""Authenticated, encrypted peers with roles: credentials files, the ZAP key check and the role tables."""
