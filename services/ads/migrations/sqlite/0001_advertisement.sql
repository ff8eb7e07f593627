CREATE TABLE advertisement (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    weight REAL NOT NULL,
    path TEXT NOT NULL
);
