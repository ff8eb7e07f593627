//! The dashboard's links to the lab: the shop's fault switches for its fault panel, flipped in-process
//! exactly as the admin API flips them (each flip deploys a new version of the service that owns it).

use shop_runtime::Faults;
use tui::app::Fault;
use tui::run::FaultControl;

use crate::shop::RunningShop;

/// The fault switches of a shop running in this process.
#[derive(Debug, Clone)]
pub struct ShopFaults {
    services: Vec<Faults>,
}

impl ShopFaults {
    pub fn of(shop: &RunningShop) -> ShopFaults {
        ShopFaults {
            services: vec![
                shop.storefront_state.faults.clone(),
                shop.ads_state.faults.clone(),
                shop.discounts_state.faults.clone(),
            ],
        }
    }
}

impl FaultControl for ShopFaults {
    fn list(&self) -> anyhow::Result<Vec<Fault>> {
        Ok(self
            .services
            .iter()
            .flat_map(|faults| {
                let version = faults.version();
                faults.statuses().into_iter().map(move |status| Fault {
                    name: status.name.to_owned(),
                    broken: status.broken,
                    description: status.description.to_owned(),
                    service: faults.service().to_owned(),
                    version: version.clone(),
                })
            })
            .collect())
    }

    fn set(&self, name: &str, broken: bool) -> anyhow::Result<String> {
        let faults = self
            .services
            .iter()
            .find(|faults| faults.names().contains(&name))
            .ok_or_else(|| anyhow::anyhow!("no service has a fault named {name:?}"))?;
        let changed = faults.set(name, broken)?;
        let state = if broken { "broken" } else { "fixed" };
        Ok(if changed {
            format!(
                "{name} {state}: {} now runs version {}",
                faults.service(),
                faults.version()
            )
        } else {
            format!("{name} was already {state}")
        })
    }
}
