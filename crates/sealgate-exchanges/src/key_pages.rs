//! Where a user deletes and re-creates an exchange API key: the exchange's own API-key
//! management page, per exchange. Pure data (what an incident message and the web client
//! show); each URL is the page the exchange's documentation or help centre sends users to.

/// An exchange's API-key management page and how to replace a key there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPage {
    /// Exchange id (as in [`crate::ALL`]).
    pub exchange: &'static str,
    /// The exchange's name, for people.
    pub name: &'static str,
    /// The page (signed in) that lists, deletes and creates API keys.
    pub url: &'static str,
    /// Where the page is in the exchange's menus.
    pub menu: &'static str,
}

/// Every exchange's page, in [`crate::ALL`]'s order of ids (a test checks each id has one).
pub static KEY_PAGES: &[KeyPage] = &[
    KeyPage {
        exchange: "binance",
        name: "Binance",
        url: "https://www.binance.com/en/my/settings/api-management",
        menu: "Account > API Management",
    },
    KeyPage {
        exchange: "bitfinex",
        name: "Bitfinex",
        url: "https://setting.bitfinex.com/api",
        menu: "Account > API Keys",
    },
    KeyPage {
        exchange: "bitget",
        name: "Bitget",
        url: "https://www.bitget.com/account/newapi",
        menu: "Profile > API keys",
    },
    KeyPage {
        exchange: "bitstamp",
        name: "Bitstamp",
        url: "https://www.bitstamp.net/account/security/api/",
        menu: "Settings > Security > API access",
    },
    KeyPage {
        exchange: "bybit",
        name: "Bybit",
        url: "https://www.bybit.com/app/user/api-management",
        menu: "Account > API",
    },
    KeyPage {
        exchange: "coinbase",
        name: "Coinbase (Advanced Trade, CDP keys)",
        url: "https://portal.cdp.coinbase.com/access/api",
        menu: "Developer Platform > API keys",
    },
    KeyPage {
        exchange: "coinbase-exchange",
        name: "Coinbase Exchange",
        url: "https://exchange.coinbase.com/profile/api",
        menu: "Profile > API",
    },
    KeyPage {
        exchange: "deribit",
        name: "Deribit",
        url: "https://www.deribit.com/account/BTC/api",
        menu: "Account > API",
    },
    KeyPage {
        exchange: "gate",
        name: "Gate",
        url: "https://www.gate.io/myaccount/apikeys",
        menu: "Account > API Keys",
    },
    KeyPage {
        exchange: "gemini",
        name: "Gemini",
        url: "https://exchange.gemini.com/settings/api",
        menu: "Settings > API",
    },
    KeyPage {
        exchange: "kraken",
        name: "Kraken",
        url: "https://pro.kraken.com/app/settings/api",
        menu: "Settings > API",
    },
    KeyPage {
        exchange: "kucoin",
        name: "KuCoin",
        url: "https://www.kucoin.com/account/api",
        menu: "Account > API Management",
    },
    KeyPage {
        exchange: "mexc",
        name: "MEXC",
        url: "https://www.mexc.com/user/openapi",
        menu: "Profile > API Management",
    },
    KeyPage { exchange: "okx", name: "OKX", url: "https://www.okx.com/account/my-api", menu: "Profile > API" },
    KeyPage { exchange: "poloniex", name: "Poloniex", url: "https://poloniex.com/apiKeys", menu: "Account > API Keys" },
];

/// The page of exchange `id`, if it is one of ours.
pub fn key_page(id: &str) -> Option<&'static KeyPage> {
    KEY_PAGES.iter().find(|p| p.exchange == id)
}

/// The steps to replace a leaked key on the exchange, in words (one per line).
pub fn replace_steps(page: &KeyPage, hint: &str) -> [String; 4] {
    [
        format!("Open {} ({}) and sign in.", page.url, page.menu),
        format!("Delete the API key ending in {hint} (deleting it there is what stops its use)."),
        "Create a new API key with the same permissions (no withdrawal permission unless you need it).".into(),
        format!("In Sealgate, add the new key as a new {} credential, then delete the old one.", page.name),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exchange_has_a_key_page_and_only_ours_do() {
        for s in crate::ALL {
            let p = key_page(s.id).unwrap_or_else(|| panic!("no key page for {}", s.id));
            assert!(p.url.starts_with("https://"), "{}", p.url);
        }
        assert_eq!(KEY_PAGES.len(), crate::ALL.len());
        assert!(key_page("nope").is_none());
        assert!(key_page("").is_none());
    }
}
