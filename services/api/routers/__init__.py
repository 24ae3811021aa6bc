"""The API's routes, a module per record kind (and one for views, history and audit, one for
people); each route maps a request to one use case or view query."""
