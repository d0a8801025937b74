"""Data package: the MM7 XSDs, the SOAP 1.1 envelope schema and their manifest."""
