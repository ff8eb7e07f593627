CREATE TABLE influencer (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE discount_type (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    discount_query TEXT NOT NULL,
    influencer_id BIGINT REFERENCES influencer (id)
);

CREATE TABLE discount (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    code TEXT NOT NULL,
    value BIGINT NOT NULL,
    discount_type_id BIGINT NOT NULL REFERENCES discount_type (id)
);
