"""File Service: takes a batch's uploaded files, extracts and validates their text, stores it and
announces each file to the Essay Lifecycle Service. `python -m services.file_service` runs it."""
