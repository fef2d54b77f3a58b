//! The two EC2 reads moto needs for ECS and ELBv2 (default VPC subnets and security group),
//! as unsigned query-protocol POSTs: the EC2 SDK crate is too large to build for two calls.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The default VPC's network, as the topology needs it.
#[derive(Debug, Clone)]
pub struct Network {
    pub vpc_id: String,
    pub subnets: Vec<String>,
    pub security_group: String,
}

async fn query(endpoint: &str, action: &str) -> anyhow::Result<String> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = hyper::Request::post(format!("{endpoint}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        // moto routes by the credential scope's service name; it does not check signatures.
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(Full::new(Bytes::from(format!("Action={action}&Version=2016-11-15"))))?;
    let resp = client.request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    anyhow::ensure!(status.is_success(), "ec2 {action}: HTTP {status}: {text}");
    Ok(text)
}

/// Every `<tag>value</tag>` in an XML document, in order.
pub fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(after[..j].to_string());
        rest = &after[j + close.len()..];
    }
    out
}

/// The default VPC's subnets and its default security group.
pub async fn default_network(endpoint: &str) -> anyhow::Result<Network> {
    let subnets_xml = query(endpoint, "DescribeSubnets").await?;
    let groups_xml = query(endpoint, "DescribeSecurityGroups").await?;
    let subnets = xml_values(&subnets_xml, "subnetId");
    let vpc_id = xml_values(&subnets_xml, "vpcId")
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("moto reported no subnets"))?;
    let security_group = xml_values(&groups_xml, "groupId")
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("moto reported no security group"))?;
    anyhow::ensure!(subnets.len() >= 2, "need two subnets, got {subnets:?}");
    Ok(Network {
        vpc_id,
        subnets,
        security_group,
    })
}
