//! Just enough XML for STS answers: the text of elements at a path of local names
//! (`AssumeRoleResponse/AssumeRoleResult/Credentials/AccessKeyId`). Bounded (input size, depth),
//! no DTDs, no entities beyond XML's five and character references.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

/// The largest document read.
pub const MAX_DOCUMENT: usize = 256 * 1024;
const MAX_DEPTH: usize = 32;

/// Why a document is not the XML expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed XML: {0}")]
pub struct XmlError(&'static str);

/// Every (path, text) of the document's leaf text, the path as local names from the root.
pub fn texts(doc: &str) -> Result<Vec<(Vec<String>, String)>, XmlError> {
    if doc.len() > MAX_DOCUMENT {
        return Err(XmlError("the document is too large"));
    }
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = doc.trim_start_matches('\u{feff}');
    let mut seen_root = false;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            text.push_str(&decode(rest)?);
            break;
        };
        text.push_str(&decode(rest.get(..lt).unwrap_or_default())?);
        rest = rest.get(lt..).unwrap_or_default();
        if let Some(after) = rest.strip_prefix("<?") {
            rest = skip_past(after, "?>")?;
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = skip_past(after, "-->")?;
        } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after
                .find("]]>")
                .ok_or(XmlError("an unclosed CDATA section"))?;
            text.push_str(after.get(..end).unwrap_or_default());
            rest = after.get(end + 3..).unwrap_or_default();
        } else if rest.starts_with("<!") {
            return Err(XmlError("declarations (DTDs) are not accepted"));
        } else if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>').ok_or(XmlError("an unclosed end tag"))?;
            let name = local(after.get(..end).unwrap_or_default().trim());
            if stack.last().map(String::as_str) != Some(name) {
                return Err(XmlError("an end tag that does not close the open element"));
            }
            if !text.trim().is_empty() {
                out.push((stack.clone(), std::mem::take(&mut text)));
            }
            text.clear();
            stack.pop();
            rest = after.get(end + 1..).unwrap_or_default();
        } else {
            let (name, empty, after) = start_tag(rest.get(1..).unwrap_or_default())?;
            if stack.is_empty() && seen_root {
                return Err(XmlError("a second root element"));
            }
            seen_root = true;
            text.clear();
            if !empty {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError("nested too deeply"));
                }
                stack.push(name.to_owned());
            }
            rest = after;
        }
    }
    if !stack.is_empty() || !seen_root {
        return Err(XmlError("the document ends inside an element"));
    }
    Ok(out)
}

/// The text at `path` (local names from the root), trimmed.
pub fn find(texts: &[(Vec<String>, String)], path: &[&str]) -> Option<String> {
    texts
        .iter()
        .find(|(p, _)| p.iter().map(String::as_str).eq(path.iter().copied()))
        .map(|(_, t)| t.trim().to_owned())
}

/// The text of the first element named `name` anywhere.
pub fn find_named(texts: &[(Vec<String>, String)], name: &str) -> Option<String> {
    texts
        .iter()
        .find(|(p, _)| p.last().is_some_and(|n| n == name))
        .map(|(_, t)| t.trim().to_owned())
}

fn skip_past<'a>(s: &'a str, end: &str) -> Result<&'a str, XmlError> {
    let at = s
        .find(end)
        .ok_or(XmlError("an unclosed declaration or comment"))?;
    Ok(s.get(at + end.len()..).unwrap_or_default())
}

/// `name attr="v" …>` or `…/>`: the name, whether empty, and what follows the tag.
fn start_tag(s: &str) -> Result<(&str, bool, &str), XmlError> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '<') => return Err(XmlError("a `<` inside a tag")),
            (None, '>') => {
                let tag = s.get(..i).unwrap_or_default();
                let (tag, empty) = match tag.strip_suffix('/') {
                    Some(t) => (t, true),
                    None => (tag, false),
                };
                let name = tag.split_whitespace().next().unwrap_or_default();
                if name.is_empty() {
                    return Err(XmlError("a tag without a name"));
                }
                return Ok((local(name), empty, s.get(i + 1..).unwrap_or_default()));
            }
            (None, _) => {}
        }
    }
    Err(XmlError("an unclosed start tag"))
}

/// `sts:Name` → `Name`.
fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn decode(s: &str) -> Result<String, XmlError> {
    if !s.contains('&') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or_default());
        let after = rest.get(amp + 1..).unwrap_or_default();
        let semi = after
            .find(';')
            .filter(|&n| n <= 10)
            .ok_or(XmlError("an `&` that starts no reference"))?;
        let name = after.get(..semi).unwrap_or_default();
        let c = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or(XmlError("an unknown entity or character reference"))?
            }
        };
        out.push(c);
        rest = after.get(semi + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AssumeRole answer as documented in the STS API reference.
    const ANSWER: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
  <SourceIdentity>Alice</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/demo/TestAR</Arn>
      <AssumedRoleId>ARO123EXAMPLE123:TestAR</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <SessionToken>
       AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQW
      </SessionToken>
      <Expiration>2019-11-09T13:34:41Z</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>"#;

    #[test]
    fn finds_the_credentials_of_the_documented_answer() {
        let t = texts(ANSWER).unwrap();
        let at = |leaf| {
            find(
                &t,
                &[
                    "AssumeRoleResponse",
                    "AssumeRoleResult",
                    "Credentials",
                    leaf,
                ],
            )
        };
        assert_eq!(at("AccessKeyId").as_deref(), Some("ASIAIOSFODNN7EXAMPLE"));
        assert_eq!(
            at("SessionToken").as_deref(),
            Some("AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQW")
        );
        assert_eq!(at("Expiration").as_deref(), Some("2019-11-09T13:34:41Z"));
        assert_eq!(
            find(&t, &["AssumeRoleResult", "Credentials", "AccessKeyId"]),
            None
        );
    }

    #[test]
    fn decodes_references_prefixes_and_cdata() {
        let doc = "<?xml version=\"1.0\"?><!-- c --><s:E a='x>y'><s:M>a &amp; b &#x41;&#66; &lt;<![CDATA[<raw>]]></s:M><Empty/></s:E>";
        let t = texts(doc).unwrap();
        assert_eq!(find_named(&t, "M").as_deref(), Some("a & b AB <<raw>"));
    }

    #[test]
    fn refuses_what_is_not_plain_xml() {
        for bad in [
            "<a><b></a></b>",
            "<a>",
            "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            "<a>&bogus;</a>",
            "<a>&amp</a>",
            "<a/><b/>",
            "",
            "text only",
        ] {
            assert!(texts(bad).is_err(), "{bad}");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(texts(&deep).is_err());
        let big = format!("<a>{}</a>", "x".repeat(MAX_DOCUMENT));
        assert!(texts(&big).is_err());
    }
}
