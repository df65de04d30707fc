"""Fakes of the services ci-track talks to (GitHub, Jenkins, Databricks) and proxies that count or break traffic."""
