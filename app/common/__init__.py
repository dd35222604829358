"""Small pieces every domain package uses: time, column types, schemas, pagination."""
