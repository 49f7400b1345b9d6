"""Test helpers shipped in the package: protocol-faithful provider emulators."""
