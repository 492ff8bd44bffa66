//! Who is who: programs (with their keys and conversions) and partners.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};
use siphasher::sip128::{Hasher128, SipHasher24};

use crate::click_id::{ClickAddress, ClickId};
use crate::index::slot::PROGRAMS_MAX;
use crate::outcome::Conversion;
use crate::program::{PartnerId, ProgramId, ProgramSettings};

/// SHA-256 of a program key: what the log and the registry keep instead of the key.
pub(crate) fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A registered program and the state its claims are serialized on.
pub(crate) struct ProgramEntry {
    pub id: ProgramId,
    pub settings: ProgramSettings,
    /// The program lock: held for the whole claim decision and its log append, which
    /// makes a multi-ID claim atomic and keeps claims of one program in log order.
    pub state: Mutex<ProgramState>,
}

/// The conversions of one program, by order id and by claimed click.
///
/// Both lookups use hashbrown with its default hasher (foldhash, seeded at random per
/// map): several times faster than the standard library's SipHash on these short keys,
/// and order ids, which advertisers choose, cannot be aimed at a known seed. The order-id
/// table stores indices into `conversions` with each order id's hash, not the order id:
/// each order id is stored once, in its conversion, and a rehash moves entries by their
/// stored hash instead of reaching through every conversion to its order id (two cache
/// misses an entry, which made each doubling of a large table cost hundreds of
/// milliseconds).
#[derive(Default)]
pub(crate) struct ProgramState {
    conversions: Vec<Arc<Conversion>>,
    by_order_id: HashTable<OrderEntry>,
    /// Keyed by address: an ID that addresses a claimed click finds its conversion.
    by_claimed_click: HashMap<ClickAddress, usize>,
    hasher: DefaultHashBuilder,
}

impl ProgramState {
    /// Every conversion of the program, in acceptance order.
    pub fn conversions(&self) -> &[Arc<Conversion>] {
        &self.conversions
    }

    /// The conversion of order `order_id`, if it was accepted.
    pub fn by_order_id(&self, order_id: &str) -> Option<&Arc<Conversion>> {
        let hash = self.hasher.hash_one(order_id);
        self.by_order_id
            .find(hash, |entry| {
                entry.hash == hash && self.conversions[entry.index].order.order_id == order_id
            })
            .map(|entry| &self.conversions[entry.index])
    }

    /// The conversion that claimed `id`, if one did.
    pub fn by_claimed_click(&self, id: &ClickId) -> Option<&Arc<Conversion>> {
        let index = *self.by_claimed_click.get(&id.address())?;
        Some(&self.conversions[index])
    }

    /// Adds an accepted conversion; its order id and every claimed ID must be new to
    /// this program.
    pub fn insert(&mut self, conversion: Arc<Conversion>) {
        let index = self.conversions.len();
        for id in &conversion.claimed {
            let previous = self.by_claimed_click.insert(id.address(), index);
            assert!(previous.is_none(), "click {id} claimed twice");
        }
        let order_id = conversion.order.order_id.as_str();
        // The caller looked the order up under the same program lock; checking again
        // would cost a second lookup on every accepted conversion.
        debug_assert!(
            self.by_order_id(order_id).is_none(),
            "order {order_id} recorded twice"
        );
        let hash = self.hasher.hash_one(order_id);
        self.by_order_id
            .insert_unique(hash, OrderEntry { hash, index }, |entry| entry.hash);
        self.conversions.push(conversion);
    }
}

/// An entry of the order-id table: where the conversion is, and its order id's hash.
struct OrderEntry {
    hash: u64,
    index: usize,
}

/// Programs already found by their key, remembered under a keyed 128-bit tag of the key
/// so that later postbacks skip SHA-256 (a third of a claim's instructions without
/// SHA extensions).
///
/// The tag is SipHash-2-4 under a random key drawn when the registry is made and never
/// stored: a key that is not a program's matches a remembered tag with probability
/// 2^-128, and the lookup's timing depends on the tag, which says nothing an attacker
/// can use about any key. Only keys that resolved to a program are remembered, so the
/// table holds at most one entry per program key presented. When the random key cannot
/// be drawn, nothing is remembered and every lookup hashes the key with SHA-256.
struct KeyTags {
    sip_key: Option<[u8; 16]>,
    known: RwLock<HashMap<u128, ProgramId>>,
}

impl Default for KeyTags {
    fn default() -> KeyTags {
        let mut sip_key = [0u8; 16];
        KeyTags {
            sip_key: getrandom::fill(&mut sip_key).ok().map(|()| sip_key),
            known: RwLock::default(),
        }
    }
}

impl KeyTags {
    fn tag(&self, key: &str) -> Option<u128> {
        let mut hasher = SipHasher24::new_with_key(self.sip_key.as_ref()?);
        hasher.write(key.as_bytes());
        Some(hasher.finish128().as_u128())
    }
}

/// Programs and partners, numbered densely in registration order.
#[derive(Default)]
pub(crate) struct Registry {
    programs: Vec<Arc<ProgramEntry>>,
    by_name: HashMap<String, ProgramId>,
    by_key_digest: HashMap<[u8; 32], ProgramId>,
    /// Each program's current key digest, by program number: what a rotation removes.
    key_digests: Vec<[u8; 32]>,
    key_tags: KeyTags,
    partners: Vec<String>,
    partner_by_name: HashMap<String, PartnerId>,
}

impl Registry {
    pub fn program(&self, id: ProgramId) -> Option<&Arc<ProgramEntry>> {
        self.programs.get(id.0 as usize)
    }

    pub fn programs(&self) -> &[Arc<ProgramEntry>] {
        &self.programs
    }

    pub fn program_by_name(&self, name: &str) -> Option<ProgramId> {
        self.by_name.get(name).copied()
    }

    /// The program whose key is `key`: by its remembered tag, or else by the SHA-256
    /// digest (then the tag is remembered).
    pub fn program_by_key(&self, key: &str) -> Option<&Arc<ProgramEntry>> {
        let tag = self.key_tags.tag(key);
        if let Some(tag) = tag {
            if let Some(&id) = self.key_tags.known.read().get(&tag) {
                return self.program(id);
            }
        }
        let id = *self.by_key_digest.get(&key_digest(key))?;
        if let Some(tag) = tag {
            self.key_tags.known.write().insert(tag, id);
        }
        self.program(id)
    }

    pub fn next_program_id(&self) -> ProgramId {
        ProgramId(self.programs.len() as u32)
    }

    /// The SHA-256 of a program's current key (after any rotation).
    pub fn key_digest_of(&self, id: ProgramId) -> Option<[u8; 32]> {
        self.key_digests.get(id.0 as usize).copied()
    }

    pub fn key_in_use(&self, digest: &[u8; 32]) -> bool {
        self.by_key_digest.contains_key(digest)
    }

    /// Adds a program; its number must be the next one and its name and key new.
    pub fn add_program(
        &mut self,
        id: ProgramId,
        key_sha256: [u8; 32],
        settings: ProgramSettings,
    ) -> Result<(), String> {
        if id.0 >= PROGRAMS_MAX {
            return Err(format!(
                "program {} is beyond the {PROGRAMS_MAX} a slot entry can number",
                id.0
            ));
        }
        if id != self.next_program_id() {
            return Err(format!(
                "program {} registered out of order (expected {})",
                id.0,
                self.programs.len()
            ));
        }
        if self.by_name.contains_key(&settings.name) {
            return Err(format!("program name {:?} registered twice", settings.name));
        }
        if self.by_key_digest.contains_key(&key_sha256) {
            return Err("two programs share one key".to_owned());
        }
        self.by_name.insert(settings.name.clone(), id);
        self.by_key_digest.insert(key_sha256, id);
        self.key_digests.push(key_sha256);
        let state = Mutex::new(ProgramState::default());
        self.programs.push(Arc::new(ProgramEntry {
            id,
            settings,
            state,
        }));
        Ok(())
    }

    /// Replaces a program's key: the old one identifies no program from here on.
    pub fn rotate_key(&mut self, id: ProgramId, key_sha256: [u8; 32]) -> Result<(), String> {
        let Some(old) = self.key_digests.get_mut(id.0 as usize) else {
            return Err(format!("key rotation of unregistered program {}", id.0));
        };
        if self.by_key_digest.contains_key(&key_sha256) {
            return Err(format!("key rotation of program {} to a key in use", id.0));
        }
        self.by_key_digest.remove(old);
        self.by_key_digest.insert(key_sha256, id);
        *old = key_sha256;
        // The old key's remembered tag would still find the program.
        self.key_tags
            .known
            .get_mut()
            .retain(|_, program| *program != id);
        Ok(())
    }

    pub fn partner(&self, name: &str) -> Option<PartnerId> {
        self.partner_by_name.get(name).copied()
    }

    pub fn partner_name(&self, id: PartnerId) -> Option<&str> {
        self.partners.get(id.0 as usize).map(String::as_str)
    }

    pub fn partner_count(&self) -> usize {
        self.partners.len()
    }

    pub fn next_partner_id(&self) -> PartnerId {
        PartnerId(self.partners.len() as u32)
    }

    /// Adds a partner; its number must be the next one and its name new.
    pub fn add_partner(&mut self, id: PartnerId, name: String) -> Result<(), String> {
        if id != self.next_partner_id() {
            return Err(format!(
                "partner {} registered out of order (expected {})",
                id.0,
                self.partners.len()
            ));
        }
        if self.partner_by_name.contains_key(&name) {
            return Err(format!("partner name {name:?} registered twice"));
        }
        self.partner_by_name.insert(name.clone(), id);
        self.partners.push(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry_with_keys(keys: &[&str]) -> Registry {
        let mut registry = Registry::default();
        for (index, key) in keys.iter().enumerate() {
            let settings = ProgramSettings::new(&format!("p{index}"));
            registry
                .add_program(ProgramId(index as u32), key_digest(key), settings)
                .unwrap();
        }
        registry
    }

    fn conversion(sequence: u32) -> Arc<Conversion> {
        let mut click = [0u8; 12];
        click[5..9].copy_from_slice(&sequence.to_be_bytes());
        let click = ClickId::from_bytes(click);
        let eur = crate::money::Currency::parse("EUR").unwrap();
        Arc::new(Conversion {
            id: crate::outcome::ConversionId(u64::from(sequence) + 1),
            program: ProgramId(0),
            order: crate::order::Order::new(&format!("order-{sequence}"), eur),
            attributed_click: click,
            partner: "a7".into(),
            claimed: vec![click],
            verdicts: Vec::new(),
            at: crate::time::Timestamp::from_unix(1_700_000_000),
        })
    }

    #[test]
    fn order_ids_and_claimed_clicks_are_found_after_the_tables_grow_many_times() {
        let mut state = ProgramState::default();
        let count = 5_000; // a dozen doublings of each table
        for sequence in 0..count {
            state.insert(conversion(sequence));
        }
        for sequence in 0..count {
            let found = state.by_order_id(&format!("order-{sequence}")).unwrap();
            assert_eq!(found.id.0, u64::from(sequence) + 1);
            let claimed = state.by_claimed_click(&found.claimed[0]).unwrap();
            assert_eq!(claimed.id, found.id);
        }
        assert!(state.by_order_id("order-5000").is_none());
        assert_eq!(state.conversions().len(), count as usize);
    }

    #[test]
    fn a_key_finds_its_program_first_by_digest_then_by_remembered_tag() {
        let registry = registry_with_keys(&["alpha", "beta"]);
        for _ in 0..2 {
            assert_eq!(registry.program_by_key("beta").unwrap().id, ProgramId(1));
            assert_eq!(registry.program_by_key("alpha").unwrap().id, ProgramId(0));
        }
        assert_eq!(registry.key_tags.known.read().len(), 2);
    }

    #[test]
    fn a_wrong_key_is_never_remembered_and_never_matches() {
        let registry = registry_with_keys(&["alpha"]);
        for wrong in ["alphb", "Alpha", "alpha ", ""] {
            assert!(registry.program_by_key(wrong).is_none(), "{wrong:?}");
        }
        assert!(registry.key_tags.known.read().is_empty());
        assert!(registry.program_by_key("alpha").is_some());
        assert!(registry.program_by_key("alphb").is_none());
    }

    #[test]
    fn without_a_tag_key_every_lookup_uses_the_digest() {
        let mut registry = registry_with_keys(&["alpha"]);
        registry.key_tags.sip_key = None;
        assert_eq!(registry.program_by_key("alpha").unwrap().id, ProgramId(0));
        assert!(registry.program_by_key("beta").is_none());
        assert!(registry.key_tags.known.read().is_empty());
    }

    #[test]
    fn a_program_number_beyond_what_a_slot_entry_holds_is_refused() {
        let mut registry = Registry::default();
        let error = registry
            .add_program(ProgramId(PROGRAMS_MAX), [0; 32], ProgramSettings::new("p"))
            .unwrap_err();
        assert!(error.contains("beyond"), "{error}");
        assert_eq!(registry.next_program_id(), ProgramId(0));
    }

    #[test]
    fn a_rotated_key_replaces_the_old_one_and_must_be_new() {
        let mut registry = registry_with_keys(&["one", "two"]);
        // Found once, so its tag is remembered: the rotation must forget it too.
        assert_eq!(registry.program_by_key("one").unwrap().id, ProgramId(0));
        registry
            .rotate_key(ProgramId(0), key_digest("three"))
            .unwrap();
        assert!(registry.program_by_key("one").is_none());
        assert_eq!(registry.program_by_key("three").unwrap().id, ProgramId(0));
        assert_eq!(registry.program_by_key("two").unwrap().id, ProgramId(1));
        assert!(
            registry
                .rotate_key(ProgramId(0), key_digest("two"))
                .is_err(),
            "q's key"
        );
        assert!(
            registry.rotate_key(ProgramId(9), [4; 32]).is_err(),
            "no program 9"
        );
    }
}
