"""Media: resumable chunked uploads, content checks that read the bytes, stored media."""
