CREATE TABLE influencer (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE discount_type (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    discount_query TEXT NOT NULL,
    influencer_id INTEGER REFERENCES influencer (id)
);

CREATE TABLE discount (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    code TEXT NOT NULL,
    value INTEGER NOT NULL,
    discount_type_id INTEGER NOT NULL REFERENCES discount_type (id)
);
