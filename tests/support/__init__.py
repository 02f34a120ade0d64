"""Test support: local servers and emulators the tests run against."""
