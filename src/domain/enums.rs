//! The closed vocabularies of DATA_FORMAT.md. Each enum parses its exact lower-case wire
//! word and nothing else, so a typo in an import is an error, not a silent default.

use super::DomainError;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn parse(raw: &str) -> Result<Self, DomainError> {
                match raw {
                    $($word => Ok(Self::$variant),)+
                    _ => Err(DomainError::NotInEnum { allowed: [$($word),+].join(", ") }),
                }
            }

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $word),+ }
            }

            /// Position in declaration order; for enums that are ladders this is the rung.
            pub fn index(self) -> usize {
                Self::ALL.iter().position(|v| *v == self).unwrap_or(0)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

wire_enum!(PartnerType {
    Reseller => "reseller", Var => "var", Msp => "msp", Distributor => "distributor",
    SystemIntegrator => "system_integrator", Isv => "isv", Referral => "referral",
    Consultancy => "consultancy", Marketplace => "marketplace", Other => "other",
});

wire_enum!(Role { Advise => "advise", Sell => "sell", Build => "build", Service => "service", Manage => "manage" });

wire_enum!(
    /// Ordered: a higher index is a higher programme level.
    Tier { None => "none", Registered => "registered", Silver => "silver", Gold => "gold", Platinum => "platinum" }
);

wire_enum!(
    /// The relationship pyramid, bottom to top; ordered so "at least enhanced" is a comparison.
    RelationshipStage {
        Transactional => "transactional", Enhanced => "enhanced",
        Collaborative => "collaborative", Partnership => "partnership",
    }
);

wire_enum!(
    /// The partner journey, in the order partners move through it.
    JourneyStage {
        Prospect => "prospect", Onboard => "onboard", Develop => "develop", Win => "win",
        Deliver => "deliver", Expand => "expand", Retain => "retain",
    }
);

wire_enum!(IntegrationMode { Portal => "portal", Api => "api", Crm => "crm" });

wire_enum!(PlanStatus { Draft => "draft", Active => "active", Closed => "closed", Cancelled => "cancelled" });

wire_enum!(ActivityStatus { Done => "done", Planned => "planned", Cancelled => "cancelled" });

wire_enum!(Responsible { Vendor => "vendor", Partner => "partner", Joint => "joint" });

wire_enum!(FeedbackResponse {
    Accepted => "accepted", Dismissed => "dismissed", Completed => "completed", Snoozed => "snoozed",
});

impl PlanStatus {
    /// Whether next best actions are given for a plan in this state: active and draft
    /// plans can still be acted on, closed and cancelled ones cannot.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Active | Self::Draft)
    }
}

impl JourneyStage {
    /// Short codes used by DOMAIN.md's catalog table (P, O, D, W, Dl, E, R).
    pub fn parse_code(code: &str) -> Option<Self> {
        Some(match code {
            "P" => Self::Prospect,
            "O" => Self::Onboard,
            "D" => Self::Develop,
            "W" => Self::Win,
            "Dl" => Self::Deliver,
            "E" => Self::Expand,
            "R" => Self::Retain,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips_through_its_wire_word() {
        for stage in RelationshipStage::ALL {
            assert_eq!(RelationshipStage::parse(stage.as_str()), Ok(*stage));
        }
        for t in PartnerType::ALL {
            assert_eq!(PartnerType::parse(t.as_str()), Ok(*t));
        }
    }

    #[test]
    fn parsing_is_exact_and_names_the_allowed_words() {
        let err = Tier::parse("Gold").unwrap_err();
        assert_eq!(
            err,
            DomainError::NotInEnum {
                allowed: "none, registered, silver, gold, platinum".into()
            }
        );
    }

    #[test]
    fn the_pyramid_is_ordered_bottom_to_top() {
        assert!(RelationshipStage::Transactional < RelationshipStage::Enhanced);
        assert!(RelationshipStage::Collaborative < RelationshipStage::Partnership);
        assert_eq!(RelationshipStage::Partnership.index(), 3);
    }
}
