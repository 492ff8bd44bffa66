//! Click placeholders in the cases' queries and expectations: `$cN`, `${cN}`,
//! `${cN|upper}`, `${cN|drop_last}`. Kept apart from the JSON reading so the
//! claim-sequence harness (`tests/model`, also built by the fuzz crate) shares it.

use clickledger::ClickId;

/// Replaces the click placeholders of a postback (or an expected value) by the IDs
/// minted so far: `$cN` by click N's canonical ID, `${cN}` likewise (so `${c0}0` is the
/// ID followed by a literal `0`), `${cN|upper}` by its upper-case form and
/// `${cN|drop_last}` by the ID without its last character.
///
/// `$cN` takes every digit that follows, so `$c10` is click 10, never click 1 then `0`.
/// A `$` that starts no placeholder is kept as it is.
pub fn substitute(text: &str, clicks: &[ClickId]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(position) = rest.find('$') {
        out.push_str(&rest[..position]);
        rest = &rest[position..];
        let (replacement, consumed) = placeholder(rest, clicks)?;
        out.push_str(&replacement);
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The replacement for the placeholder at the start of `text` (which starts with `$`),
/// and how many bytes it spans.
fn placeholder(text: &str, clicks: &[ClickId]) -> Result<(String, usize), String> {
    if let Some(braced) = text.strip_prefix("${") {
        let end = braced
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder in {text:?}"))?;
        let inner = &braced[..end];
        let (name, filter) = inner.split_once('|').unwrap_or((inner, ""));
        let id = click_by_name(name, clicks)?.to_string();
        let replacement = match filter {
            "" => id,
            "upper" => id.to_ascii_uppercase(),
            "drop_last" => id[..id.len() - 1].to_owned(),
            other => return Err(format!("unknown placeholder filter {other:?}")),
        };
        return Ok((replacement, "${".len() + end + "}".len()));
    }
    if let Some(after) = text.strip_prefix("$c") {
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            let consumed = "$c".len() + digits;
            let id = click_by_name(&text[1..consumed], clicks)?;
            return Ok((id.to_string(), consumed));
        }
    }
    Ok(("$".to_owned(), 1))
}

/// The click named `cN`.
pub fn click_by_name(name: &str, clicks: &[ClickId]) -> Result<ClickId, String> {
    let index: usize = name
        .strip_prefix('c')
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| format!("{name:?} does not name a click (expected cN)"))?;
    clicks.get(index).copied().ok_or_else(|| {
        format!(
            "${name} is used but only {} click(s) were recorded before",
            clicks.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(count: u8) -> Vec<ClickId> {
        (0..count).map(|n| ClickId::from_bytes([n; 12])).collect()
    }

    #[test]
    fn placeholders_take_every_digit_and_apply_filters() {
        let clicks = ids(11);
        let ten = "0a".repeat(12);
        let one = "01".repeat(12);
        assert_eq!(
            substitute("cids=$c10", &clicks).unwrap(),
            format!("cids={ten}")
        );
        assert_eq!(
            substitute("$c1-$c10", &clicks).unwrap(),
            format!("{one}-{ten}")
        );
        assert_eq!(
            substitute("${c10|upper}", &clicks).unwrap(),
            ten.to_ascii_uppercase()
        );
        assert_eq!(substitute("${c1|drop_last}", &clicks).unwrap(), one[..23]);
        assert_eq!(substitute("${c1}0", &clicks).unwrap(), format!("{one}0"));
        assert_eq!(substitute("a$b$", &clicks).unwrap(), "a$b$");
    }

    #[test]
    fn placeholder_of_a_click_not_yet_recorded_is_an_error() {
        assert!(substitute("$c2", &ids(2)).is_err());
        assert!(substitute("${c0|lower}", &ids(2)).is_err());
    }
}
