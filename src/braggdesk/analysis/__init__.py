"""analysis layer of braggdesk; see the package docstring for the layering."""
