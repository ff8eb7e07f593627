//! `lab fix` and `lab break`: flip the faults of a running shop through each service's admin API. Every flip
//! deploys a new version of the service that owns the fault.

use anyhow::{Context as _, bail};
use serde::Deserialize;
use shop_runtime::admin::{FaultsDoc, SetFault};

/// A fault as the admin API lists it.
#[derive(Debug, Deserialize)]
struct Fault {
    name: String,
    broken: bool,
    description: String,
}

/// Where the three services of a running lab listen.
#[derive(Debug, Clone)]
pub struct ShopUrls {
    pub storefront: String,
    pub ads: String,
    pub discounts: String,
}

impl Default for ShopUrls {
    /// The ports `lab up` uses.
    fn default() -> ShopUrls {
        ShopUrls {
            storefront: format!("http://127.0.0.1:{}", storefront::PORT),
            ads: format!("http://127.0.0.1:{}", ads_service::PORT),
            discounts: format!("http://127.0.0.1:{}", discounts_service::PORT),
        }
    }
}

impl ShopUrls {
    fn all(&self) -> [&str; 3] {
        [&self.storefront, &self.ads, &self.discounts]
    }
}

/// A fault that changed, and the version its service now runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flipped {
    pub fault: String,
    pub broken: bool,
    pub service: String,
    pub version: String,
}

impl std::fmt::Display for Flipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {} now runs version {}",
            self.fault,
            if self.broken { "broken" } else { "fixed" },
            self.service,
            self.version
        )
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("a plain HTTP client builds")
}

async fn faults_of(client: &reqwest::Client, base: &str) -> anyhow::Result<FaultsDoc<Fault>> {
    let url = format!("{}/admin/faults", base.trim_end_matches('/'));
    let response = client.get(&url).send().await.with_context(|| {
        format!("no shop service answers at {base}: is the lab running (`lab up`)?")
    })?;
    if !response.status().is_success() {
        bail!("{url} answered {}", response.status());
    }
    response
        .json()
        .await
        .with_context(|| format!("{url} did not answer a fault list"))
}

async fn set(
    client: &reqwest::Client,
    base: &str,
    fault: &str,
    broken: bool,
) -> anyhow::Result<FaultsDoc<Fault>> {
    let url = format!("{}/admin/faults/{fault}", base.trim_end_matches('/'));
    let response = client
        .post(&url)
        .json(&SetFault { broken })
        .send()
        .await
        .with_context(|| format!("flipping {fault} at {url}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        bail!("{url} answered {status}: {body}");
    }
    Ok(response.json().await?)
}

/// The base URL of the service that owns `fault`, from the faults each service declares; an unknown name is
/// an error naming them all, before any request is made.
fn owner<'a>(urls: &'a ShopUrls, fault: &str) -> anyhow::Result<&'a str> {
    let services = [
        (&urls.storefront, storefront::FAULTS),
        (&urls.ads, ads_service::FAULTS),
        (&urls.discounts, discounts_service::FAULTS),
    ];
    for (base, faults) in services {
        if faults.iter().any(|f| f.name == fault) {
            return Ok(base);
        }
    }
    let known: Vec<&str> = services
        .iter()
        .flat_map(|(_, faults)| faults.iter().map(|f| f.name))
        .collect();
    bail!(
        "unknown fault {fault:?}; the shop's faults: {}",
        known.join(", ")
    )
}

/// Switches `fault` on (`broken`) or off on the service that owns it, asking only that one. Says so when
/// nothing changed.
pub async fn set_fault(urls: &ShopUrls, fault: &str, broken: bool) -> anyhow::Result<Flipped> {
    let base = owner(urls, fault)?;
    let client = client();
    let doc = faults_of(&client, base).await?;
    let Some(status) = doc.faults.iter().find(|f| f.name == fault) else {
        bail!(
            "{} at {base} has no fault {fault:?}: is that URL the right service?",
            doc.service
        );
    };
    if status.broken == broken {
        bail!(
            "{fault} is already {} ({} runs version {})",
            if broken { "broken" } else { "fixed" },
            doc.service,
            doc.version
        );
    }
    let doc = set(&client, base, fault, broken).await?;
    Ok(Flipped {
        fault: fault.to_owned(),
        broken,
        service: doc.service,
        version: doc.version,
    })
}

/// A fault of the running shop, for `lab fix --list`.
#[derive(Debug, Clone)]
pub struct Listed {
    pub fault: String,
    pub broken: bool,
    pub service: String,
    pub version: String,
    pub description: String,
}

impl std::fmt::Display for Listed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<24} {:<7} {} {}: {}",
            self.fault,
            if self.broken { "broken" } else { "fixed" },
            self.service,
            self.version,
            self.description
        )
    }
}

/// Every fault of the running shop.
pub async fn list(urls: &ShopUrls) -> anyhow::Result<Vec<Listed>> {
    let client = client();
    let mut out = Vec::new();
    for base in urls.all() {
        let doc = faults_of(&client, base).await?;
        out.extend(doc.faults.into_iter().map(|f| Listed {
            fault: f.name,
            broken: f.broken,
            service: doc.service.clone(),
            version: doc.version.clone(),
            description: f.description,
        }));
    }
    Ok(out)
}

/// Switches every fault on (`broken`) or off; answers what changed.
pub async fn set_all(urls: &ShopUrls, broken: bool) -> anyhow::Result<Vec<Flipped>> {
    let client = client();
    let mut flipped = Vec::new();
    for base in urls.all() {
        let doc = faults_of(&client, base).await?;
        for status in doc.faults.iter().filter(|f| f.broken != broken) {
            let doc = set(&client, base, &status.name, broken).await?;
            flipped.push(Flipped {
                fault: status.name.clone(),
                broken,
                service: doc.service,
                version: doc.version,
            });
        }
    }
    Ok(flipped)
}
