CREATE TABLE advertisement (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    weight DOUBLE PRECISION NOT NULL,
    path TEXT NOT NULL
);
