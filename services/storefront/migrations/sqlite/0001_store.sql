CREATE TABLE taxonomy (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE taxon (
    id INTEGER PRIMARY KEY,
    taxonomy_id INTEGER NOT NULL REFERENCES taxonomy (id),
    parent_id INTEGER REFERENCES taxon (id),
    name TEXT NOT NULL,
    permalink TEXT NOT NULL UNIQUE
);

CREATE TABLE product (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    price_cents INTEGER NOT NULL
);

CREATE TABLE variant (
    id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES product (id),
    sku TEXT NOT NULL UNIQUE,
    is_master INTEGER NOT NULL,
    price_cents INTEGER NOT NULL
);

CREATE TABLE product_taxon (
    product_id INTEGER NOT NULL REFERENCES product (id),
    taxon_id INTEGER NOT NULL REFERENCES taxon (id),
    PRIMARY KEY (product_id, taxon_id)
);

CREATE TABLE cart_order (
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE line_item (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES cart_order (id),
    variant_id INTEGER NOT NULL REFERENCES variant (id),
    quantity INTEGER NOT NULL,
    price_cents INTEGER NOT NULL,
    UNIQUE (order_id, variant_id)
);
