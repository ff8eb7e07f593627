//! The storefront's static files, all inside the binary: stylesheet, script, favicon, product pictures (drawn
//! here, per product kind) and Datadog's browser SDK with its licence (see `rum`). Anything else under `/assets` is a plain 404, which is not an error.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::catalog::ProductKind;

const CSS: &str = include_str!("../assets/storefront.css");
const JS: &str = include_str!("../assets/storefront.js");

/// `GET /assets/{*path}`.
pub(crate) async fn asset(
    State(state): State<crate::AppState>,
    Path(path): Path<String>,
) -> Response {
    let sdk = state.upstreams.config().rum_sdk;
    match (path.as_str(), sdk) {
        ("datadog-rum-slim.js", Some(sdk)) => file("text/javascript; charset=utf-8", sdk.served()),
        ("datadog-rum-slim.LICENSE.txt", Some(sdk)) => {
            file("text/plain; charset=utf-8", sdk.license())
        }
        _ => other(&path).await,
    }
}

/// Every other asset.
async fn other(path: &str) -> Response {
    match path {
        "storefront.css" => file("text/css; charset=utf-8", CSS.as_bytes().to_vec()),
        "storefront.js" => file("text/javascript; charset=utf-8", JS.as_bytes().to_vec()),
        // Spree fingerprints its favicon (`favicon-<digest>.ico`); any such name gets ours.
        p if p.starts_with("favicon") && p.ends_with(".ico") => favicon().await,
        p => match p
            .strip_prefix("products/")
            .and_then(|p| p.strip_suffix(".svg"))
        {
            Some(slug) if is_slug(slug) => {
                file("image/svg+xml", product_picture(slug).into_bytes())
            }
            _ => (StatusCode::NOT_FOUND, "Not Found").into_response(),
        },
    }
}

/// `GET /favicon.ico`: a 16×16 icon, drawn once.
pub(crate) async fn favicon() -> Response {
    file("image/x-icon", ico())
}

fn file(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body.into(),
    )
        .into_response()
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 80
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A picture of the product: a bag, a mug or a shirt, in a colour of its brand, with its name.
fn product_picture(slug: &str) -> String {
    let colour = match slug.split('-').next() {
        Some("datadog") => "#632ca6",
        Some("spree") => "#2f9e44",
        Some("apache") => "#c2255c",
        _ => "#1c7ed6",
    };
    let shape = match ProductKind::of(slug) {
        ProductKind::Bag => {
            r#"<rect x="70" y="100" width="100" height="90" rx="10"/><path d="M95 100 v-20 a25 25 0 0 1 50 0 v20" fill="none" stroke-width="9"/>"#
        }
        ProductKind::Mug => {
            r#"<rect x="70" y="80" width="85" height="110" rx="10"/><path d="M155 105 h15 a20 20 0 0 1 0 40 h-15" fill="none" stroke-width="10"/>"#
        }
        ProductKind::Shirt => {
            r#"<path d="M85 60 l-45 25 l15 35 l20 -8 v80 h90 v-80 l20 8 l15 -35 l-45 -25 q-35 22 -70 0 z"/>"#
        }
    };
    let label: String = slug.replace('-', " ");
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240" viewBox="0 0 240 240"><rect width="240" height="240" fill="#f1eef6"/><g fill="{colour}" stroke="{colour}">{shape}</g><text x="120" y="225" text-anchor="middle" font-family="system-ui, sans-serif" font-size="13" fill="#1f1f29">{label}</text></svg>"##
    )
}

/// A 16×16 32-bit icon in the ICO format: a purple disc on transparency.
fn ico() -> Vec<u8> {
    const SIZE: u32 = 16;
    let pixels = SIZE * SIZE * 4;
    let mask = SIZE * 4; // 1 bit per pixel, rows padded to 4 bytes
    let image_len = 40 + pixels + mask;
    let mut out = Vec::with_capacity(22 + image_len as usize);
    // ICONDIR: reserved, type 1 (icon), one image.
    out.extend_from_slice(&[0, 0, 1, 0, 1, 0]);
    // ICONDIRENTRY: 16×16, no palette, 1 plane, 32 bpp, size, offset.
    out.extend_from_slice(&[SIZE as u8, SIZE as u8, 0, 0, 1, 0, 32, 0]);
    out.extend_from_slice(&image_len.to_le_bytes());
    out.extend_from_slice(&22u32.to_le_bytes());
    // BITMAPINFOHEADER; the height counts the image and its mask.
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&SIZE.to_le_bytes());
    out.extend_from_slice(&(SIZE * 2).to_le_bytes());
    out.extend_from_slice(&[1, 0, 32, 0]);
    out.extend_from_slice(&[0; 24]);
    // Pixels, bottom row first, BGRA.
    for y in (0..SIZE).rev() {
        for x in 0..SIZE {
            let (dx, dy) = (x as f32 - 7.5, y as f32 - 7.5);
            let inside = dx * dx + dy * dy <= 56.0;
            out.extend_from_slice(if inside {
                &[0xa6, 0x2c, 0x63, 0xff]
            } else {
                &[0, 0, 0, 0]
            });
        }
    }
    out.extend(std::iter::repeat_n(0u8, mask as usize));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_icon_is_a_well_formed_ico() {
        let ico = ico();
        assert_eq!(&ico[..4], &[0, 0, 1, 0]);
        let len = u32::from_le_bytes(ico[14..18].try_into().unwrap()) as usize;
        let offset = u32::from_le_bytes(ico[18..22].try_into().unwrap()) as usize;
        assert_eq!(offset + len, ico.len());
    }

    #[test]
    fn only_slugs_make_pictures() {
        assert!(is_slug("datadog-tote"));
        assert!(!is_slug("../etc/passwd") && !is_slug("<script>") && !is_slug(""));
        assert!(product_picture("spree-bag").contains("spree bag"));
    }
}
