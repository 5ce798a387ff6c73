//! The AWS Price List Query API: every product of a Bedrock service code, for `prices sync`.
//!
//! GetProducts is served from us-east-1 (and ap-south-1) whatever region the prices are for,
//! and returns each product as a JSON document in a string. Pages hold at most 100 products;
//! an AmazonBedrock read is about 1,000 products (11 pages) per region, so no region filter
//! is set (AWS does not document one for Bedrock) and every row's `regionCode` is read.

use aws_sdk_pricing::Client;

use super::SourceError;

/// Products per GetProducts page (the API's maximum).
const PAGE_SIZE: i32 = 100;

/// One service code's products as GetProducts returned them.
#[derive(Debug, Clone, Default)]
pub struct ServiceProducts {
    pub service_code: String,
    /// Each product's JSON document, as returned.
    pub documents: Vec<String>,
    pub pages: usize,
}

/// Every product of `service_code`, all pages.
pub async fn products(client: &Client, service_code: &str) -> Result<ServiceProducts, SourceError> {
    let mut read = ServiceProducts {
        service_code: service_code.to_string(),
        ..ServiceProducts::default()
    };
    let mut next_token: Option<String> = None;
    loop {
        let page = client
            .get_products()
            .service_code(service_code)
            .format_version("aws_v1")
            .max_results(PAGE_SIZE)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|error| SourceError::aws("GetProducts", error))?;
        read.pages += 1;
        read.documents.extend(page.price_list().iter().cloned());
        match page.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
            _ => return Ok(read),
        }
    }
}
