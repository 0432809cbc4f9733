/**
 * Deterministic demo data: Spanish-speaking customers, intermediaries and orders from a heterogeneous
 * purchase process (BG/NBD-like: purchase rate λ ~ Gamma(r, α), dropout p ~ Beta(a, b) after each
 * purchase, Gamma-Gamma spend). Pure: no I/O, no clock; the same options give the same data.
 * Customer i draws from its own PRNG stream (seed, i); only email counters and order numbers carry
 * state from one customer to the next, so customers must be generated in order.
 */
const DAY = 86_400_000;
/** Customers are written in blocks; a customer only refers to customers of blocks at least this far back. */
export const BLOCK = 1000;
export const REFERRAL_LAG_BLOCKS = 4;

export type DemoParams = {
  /** Share of customers who never buy (they stay `potential`). */
  prospectShare: number;
  /** λ ~ Gamma(shape, rate), purchases per (season-weighted) day. */
  rate: { shape: number; rate: number };
  /** p ~ Beta(a, b): the chance of becoming inactive after each purchase. */
  dropout: { a: number; b: number };
  /** After dropping out, the chance of coming back once, after a gap of minDays..maxDays. */
  comeback: { probability: number; minDays: number; maxDays: number };
  /** Gamma-Gamma order value in EUR cents: z ~ Gamma(p, ν), ν ~ Gamma(q, γ); mean p·γ/(q−1). */
  spend: { p: number; q: number; gamma: number };
  maxOrdersPerCustomer: number;
};

export const DEFAULT_PARAMS: DemoParams = {
  prospectShare: 0.22,
  rate: { shape: 0.8, rate: 24 },
  dropout: { a: 0.9, b: 7 },
  comeback: { probability: 0.15, minDays: 150, maxDays: 450 },
  spend: { p: 6, q: 3.5, gamma: 2300 },
  maxOrdersPerCustomer: 300,
};

export type DemoOptions = {
  seed: number;
  customers: number;
  years: number;
  /** The end of the window (exclusive); nothing is dated at or after it. */
  until: Date;
  /** The tenant's currency (orders in another one carry baseTotal). */
  currency?: string;
  params?: Partial<DemoParams>;
};

// ---------------------------------------------------------------- PRNG

/** splitmix32: spreads a 32-bit value (seeding only). */
function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** sfc32 (Chris Doty-Humphrey's small fast counting generator), seeded from any number of integers. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d = 1;

  constructor(...keys: number[]) {
    let h = 0x2545f491;
    for (const k of keys) h = splitmix32(h ^ splitmix32(k | 0) ^ Math.floor(k / 2 ** 32));
    this.#a = splitmix32(h);
    this.#b = splitmix32(this.#a);
    this.#c = splitmix32(this.#b);
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  between(min: number, max: number): number {
    return min + (max - min) * this.next();
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }
  /** An index drawn with these weights. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let u = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      u -= weights[i]!;
      if (u < 0) return i;
    }
    return weights.length - 1;
  }
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  exponential(rate: number): number {
    return -Math.log(1 - this.next()) / rate;
  }
  /** Gamma(shape, scale) by Marsaglia–Tsang (shape < 1 boosted by U^(1/shape)). */
  gamma(shape: number, scale = 1): number {
    if (shape < 1) return this.gamma(shape + 1, scale) * (1 - this.next()) ** (1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - this.next();
      if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) {
        return d * v * scale;
      }
    }
  }
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    return x / (x + this.gamma(b));
  }
}

/** Zipf-like weights: the first entries of a name list are the common ones. */
const zipf = (n: number, s = 0.9, offset = 2) => Array.from({ length: n }, (_, k) => 1 / (k + offset) ** s);

// ---------------------------------------------------------------- output shapes

export type Money = { amount: number; currency: string };
export type IntermediaryKind = 'employee' | 'prescriber' | 'distributor';

export type DemoIntermediary = {
  /** Stable reference used by customers and orders, e.g. `employee:3`. */
  ref: string;
  kind: IntermediaryKind;
  name: string;
  email: string;
  phone: string;
  externalId: string;
  country: string;
  city?: string;
  couponCode?: string;
};

/** A reference to another generated record, resolved to an id when written. */
export type DemoRef = { kind: 'customer'; index: number } | { kind: 'intermediary'; ref: string };

export type DemoProfile = {
  externalId: string;
  email?: string;
  phone?: string;
  firstName: string;
  lastName: string;
  birthDate?: string;
  locale: string;
  address: { line?: string; city: string; region: string; postalCode?: string; country: string };
  attributes: Record<string, string | number>;
  tags: string[];
  consent: Partial<
    Record<'email' | 'sms' | 'phone' | 'mail' | 'partnerSharing', { granted: boolean; at: string }>
  >;
  source: string;
};

export type DemoOrder = {
  source: string;
  externalId: string;
  placedAt: string;
  status: 'placed' | 'paid' | 'fulfilled' | 'cancelled' | 'refunded' | 'partially_refunded';
  total: Money;
  discount?: Money;
  shipping?: Money;
  refunded?: Money;
  baseTotal?: Money;
  items: { sku: string; name: string; category: string; quantity: number; unitPrice: Money }[];
  channel: 'web' | 'app' | 'store' | 'marketplace' | 'phone' | 'distributor' | 'social';
  payment: { method: string; dueAt?: string; paidAt?: string };
  couponCode?: string;
  sourceUpdatedAt: string;
  /** The intermediary it came through (`DemoIntermediary.ref`). */
  intermediary?: string;
};

export type DemoCustomer = {
  index: number;
  /** The customer's first date: the first order for buyers, the sign-up for prospects. */
  since: string;
  prospect: boolean;
  profile: DemoProfile;
  referredBy?: DemoRef;
  accountManager?: string;
  orders: DemoOrder[];
  /** The drawn process, for checks: λ, p, season-weighted days observed, dropout and comeback. */
  model: {
    lambda: number;
    dropout: number;
    exposure: number;
    droppedOut: boolean;
    /** Days since the window's start of the first dropout. */
    droppedOutAt?: number;
    returned: boolean;
    active: boolean;
  };
};

// ---------------------------------------------------------------- helpers

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const iso = (ms: number) => new Date(ms).toISOString();
/** Lower-case ASCII letters only: "José Luis" → "joseluis", "Núñez" → "nunez". */
export const asciiName = (s: string) =>
  s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z]/g, '');
const slug = (s: string) =>
  s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

/** Minor units of each currency per EUR cent, and the step local prices are rounded to. */
const FX: Record<string, { perEurCent: number; step: number }> = {
  EUR: { perEurCent: 1, step: 5 },
  MXN: { perEurCent: 20, step: 100 },
  ARS: { perEurCent: 1100, step: 10_000 },
  COP: { perEurCent: 4500, step: 10_000 },
  CLP: { perEurCent: 10, step: 10 },
  PEN: { perEurCent: 4, step: 10 },
  USD: { perEurCent: 1.08, step: 1 },
};
const localPrice = (eurCents: number, currency: string) => {
  const fx = FX[currency]!;
  return Math.max(fx.step, Math.round((eurCents * fx.perEurCent) / fx.step) * fx.step);
};

/** Season weight of a UTC day: sales, Black Friday, Christmas, a quiet August; weekends. */
export function seasonOf(dayMs: number): number {
  const d = new Date(dayMs);
  const m = d.getUTCMonth();
  const day = d.getUTCDate();
  let s = [1.3, 0.8, 1, 1, 1.05, 1.1, 1.3, 0.75, 0.95, 1, 1, 1.5][m]!;
  if (m === 0 && day < 7) s = 0.9;
  if (m === 10 && day >= 22) s = 2.8;
  if (m === 11 && day >= 24) s = 0.9;
  const weekday = d.getUTCDay();
  return s * (weekday === 6 ? 1.2 : weekday === 0 ? 0.8 : 1);
}
const SEASON_MAX = 2.8 * 1.2;
const inSales = (dayMs: number) => {
  const d = new Date(dayMs);
  const m = d.getUTCMonth();
  return (m === 0 && d.getUTCDate() >= 7) || m === 1 || m === 6 || m === 7;
};
const blackFriday = (dayMs: number) => {
  const d = new Date(dayMs);
  return d.getUTCMonth() === 10 && d.getUTCDate() >= 22;
};

const WEB_HOURS = [
  1, 0.5, 0.2, 0.1, 0.1, 0.2, 0.5, 1, 1.5, 2, 2.5, 3, 3, 3, 2.5, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 4, 2,
];
const STORE_HOURS = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 4, 4, 2, 1, 1.5, 3, 4, 4, 3, 1, 0, 0];

// ---------------------------------------------------------------- reference data

type City = {
  name: string;
  region: string;
  postal: string;
  weight: number;
  store: boolean;
  big: boolean;
  area: string;
};
type Country = {
  code: string;
  weight: number;
  currency: string;
  locale: string;
  /** Hours from UTC to local time (standard time; good enough for shop hours). */
  tz: number;
  postalLength: number;
  twoSurnames: number;
  latam: boolean;
  streets: string[];
  cities: City[];
  surnames: string[];
  legal: string;
  regionWords: string[];
  payments: [method: string, weight: number, dueDays: number][];
};

/** "name;region;postal prefix;weight;flags (s store, b big city);phone area" per line. */
const cities = (text: string): City[] =>
  text
    .trim()
    .split('\n')
    .map((line) => {
      const [name, region, postal, weight, flags = '', area = ''] = line.trim().split(';');
      return {
        name: name!,
        region: region!,
        postal: postal!,
        weight: Number(weight),
        store: flags.includes('s'),
        big: flags.includes('b'),
        area,
      };
    });
const words = (text: string) => text.trim().split(/\s*,\s*/);

const COUNTRIES: Country[] = [
  {
    code: 'ES',
    weight: 55,
    currency: 'EUR',
    locale: 'es-ES',
    tz: 1,
    postalLength: 5,
    twoSurnames: 1,
    latam: false,
    streets: words(
      'Calle Mayor, Calle Real, Avenida de la Constitución, Calle Nueva, Calle de la Iglesia, Calle San Juan, Calle Cervantes, Avenida de Andalucía, Calle del Carmen, Paseo de la Estación, Calle Alcalá, Calle Colón, Avenida de América, Calle del Sol',
    ),
    cities: cities(`
      Madrid;Comunidad de Madrid;280;20;sb
      Barcelona;Cataluña;080;12;sb
      Valencia;Comunitat Valenciana;460;6;s
      Sevilla;Andalucía;410;5;s
      Zaragoza;Aragón;500;4;s
      Málaga;Andalucía;290;4;s
      Bilbao;País Vasco;480;3;s
      Murcia;Región de Murcia;300;3
      Palma;Illes Balears;070;3
      Las Palmas de Gran Canaria;Canarias;350;3
      Alicante;Comunitat Valenciana;030;3
      Valladolid;Castilla y León;470;2
      Vigo;Galicia;362;2
      A Coruña;Galicia;150;2
      Granada;Andalucía;180;2
      Oviedo;Asturias;330;2
      Pamplona;Navarra;310;2
      San Sebastián;País Vasco;200;2
      Córdoba;Andalucía;140;2
      Santander;Cantabria;390;1.5
      Sabadell;Cataluña;082;1.5
      Salamanca;Castilla y León;370;1
      Girona;Cataluña;170;1
      Cáceres;Extremadura;100;1
      Logroño;La Rioja;260;1
      Toledo;Castilla-La Mancha;450;1
      Albacete;Castilla-La Mancha;020;1`),
    surnames: words(
      'Puig, Vila, Serra, Font, Roca, Etxeberria, Goikoetxea, Aguirre, Otero, Rey, Varela, Pereira, Mas, Bosch',
    ),
    legal: 'S.L.',
    regionWords: words(
      'Levante, del Norte, Cantábrica, Ibérica, del Sur, Mediterránea, Atlántica, Castellana',
    ),
    payments: [
      ['card', 58, 0],
      ['paypal', 16, 0],
      ['bizum', 12, 0],
      ['pay_later', 8, 30],
      ['transfer', 6, 7],
    ],
  },
  {
    code: 'MX',
    weight: 15,
    currency: 'MXN',
    locale: 'es-MX',
    tz: -6,
    postalLength: 5,
    twoSurnames: 1,
    latam: true,
    streets: words(
      'Av. Insurgentes Sur, Calle Morelos, Av. Juárez, Calle Hidalgo, Av. Reforma, Calle Madero, Av. Revolución, Calle Zaragoza',
    ),
    cities: cities(`
      Ciudad de México;Ciudad de México;0;20;sb;55
      Guadalajara;Jalisco;44;8;;33
      Monterrey;Nuevo León;64;7;;81
      Puebla;Puebla;72;4;;222
      Querétaro;Querétaro;76;3;;442
      Mérida;Yucatán;97;3;;999
      Tijuana;Baja California;22;3;;664
      León;Guanajuato;37;3;;477
      Cancún;Quintana Roo;77;2;;998`),
    surnames: words(
      'Juárez, Mendoza, Guzmán, Salazar, Rosales, Velázquez, Zamora, Ávila, Espinoza, Trejo, Cervantes, Villanueva',
    ),
    legal: 'S.A. de C.V.',
    regionWords: words('Azteca, del Bajío, Norteña, Maya, del Pacífico'),
    payments: [
      ['card', 58, 0],
      ['paypal', 10, 0],
      ['oxxo', 20, 3],
      ['transfer', 12, 7],
    ],
  },
  {
    code: 'AR',
    weight: 8,
    currency: 'ARS',
    locale: 'es-AR',
    tz: -3,
    postalLength: 4,
    twoSurnames: 0.1,
    latam: true,
    streets: words(
      'Av. Corrientes, Av. Santa Fe, Calle San Martín, Av. Rivadavia, Calle Belgrano, Av. Callao, Calle Sarmiento',
    ),
    cities: cities(`
      Buenos Aires;Ciudad Autónoma de Buenos Aires;1;25;sb;11
      Córdoba;Córdoba;50;6;;351
      Rosario;Santa Fe;20;5;;341
      Mendoza;Mendoza;55;4;;261
      La Plata;Buenos Aires;19;3;;221
      Mar del Plata;Buenos Aires;76;2;;223
      San Miguel de Tucumán;Tucumán;40;2;;381`),
    surnames: words(
      'Rossi, Ferrari, Romano, Bianchi, Russo, Colombo, Acosta, Benedetti, Sosa, Ledesma, Paz, Quiroga',
    ),
    legal: 'S.R.L.',
    regionWords: words('Rioplatense, Pampeana, Austral, Cuyana'),
    payments: [
      ['card', 52, 0],
      ['mercadopago', 38, 0],
      ['transfer', 10, 7],
    ],
  },
  {
    code: 'CO',
    weight: 8,
    currency: 'COP',
    locale: 'es-CO',
    tz: -5,
    postalLength: 6,
    twoSurnames: 1,
    latam: true,
    streets: words('Carrera, Calle, Avenida Carrera, Transversal, Diagonal'),
    cities: cities(`
      Bogotá;Bogotá D.C.;110;20;sb
      Medellín;Antioquia;050;10
      Cali;Valle del Cauca;760;7
      Barranquilla;Atlántico;080;5
      Cartagena;Bolívar;130;3
      Bucaramanga;Santander;680;3
      Pereira;Risaralda;660;2`),
    surnames: words(
      'Restrepo, Ospina, Cardona, Zapata, Londoño, Gaviria, Valencia, Quintero, Arango, Montoya, Mejía',
    ),
    legal: 'S.A.S.',
    regionWords: words('Andina, Paisa, Caribe, del Valle'),
    payments: [
      ['card', 50, 0],
      ['pse', 35, 0],
      ['cash_on_delivery', 15, 2],
    ],
  },
  {
    code: 'CL',
    weight: 6,
    currency: 'CLP',
    locale: 'es-CL',
    tz: -4,
    postalLength: 7,
    twoSurnames: 1,
    latam: true,
    streets: words(
      'Av. Providencia, Av. Libertador Bernardo O’Higgins, Calle Los Leones, Av. Apoquindo, Calle Merced, Av. Irarrázaval',
    ),
    cities: cities(`
      Santiago;Región Metropolitana;75;25;sb
      Valparaíso;Valparaíso;23;4
      Viña del Mar;Valparaíso;25;4
      Concepción;Biobío;40;4
      Antofagasta;Antofagasta;12;3
      La Serena;Coquimbo;17;2
      Temuco;La Araucanía;48;2`),
    surnames: words(
      'Contreras, Silva, Sepúlveda, Araya, Valenzuela, Tapia, Figueroa, Fuentealba, Riquelme, Pizarro, Cáceres',
    ),
    legal: 'SpA',
    regionWords: words('Austral, del Pacífico, Andina'),
    payments: [
      ['card', 60, 0],
      ['webpay', 35, 0],
      ['transfer', 5, 7],
    ],
  },
  {
    code: 'PE',
    weight: 5,
    currency: 'PEN',
    locale: 'es-PE',
    tz: -5,
    postalLength: 5,
    twoSurnames: 1,
    latam: true,
    streets: words(
      'Av. Larco, Av. Arequipa, Jr. de la Unión, Av. Javier Prado, Av. Brasil, Calle Las Begonias',
    ),
    cities: cities(`
      Lima;Lima;15;30;sb
      Arequipa;Arequipa;04;5
      Trujillo;La Libertad;13;4
      Cusco;Cusco;08;3
      Chiclayo;Lambayeque;14;3
      Piura;Piura;20;2`),
    surnames: words('Quispe, Mamani, Huamán, Chávez, Condori, Ticona, Paredes, Zevallos, Salinas, Cornejo'),
    legal: 'S.A.C.',
    regionWords: words('Andina, Inca, del Pacífico'),
    payments: [
      ['card', 58, 0],
      ['yape', 27, 0],
      ['transfer', 15, 7],
    ],
  },
  {
    code: 'EC',
    weight: 3,
    currency: 'USD',
    locale: 'es-EC',
    tz: -5,
    postalLength: 6,
    twoSurnames: 1,
    latam: true,
    streets: words('Av. Amazonas, Av. 9 de Octubre, Calle García Moreno, Av. de los Shyris, Calle Bolívar'),
    cities: cities(`
      Quito;Pichincha;17;10;b
      Guayaquil;Guayas;09;10;b
      Cuenca;Azuay;01;4`),
    surnames: words('Andrade, Zambrano, Cedeño, Vera, Macías, Intriago, Villacís'),
    legal: 'Cía. Ltda.',
    regionWords: words('Ecuatorial, del Guayas, Andina'),
    payments: [
      ['card', 70, 0],
      ['transfer', 30, 7],
    ],
  },
];
const COUNTRY_WEIGHTS = COUNTRIES.map((c) => c.weight);
const CITY_WEIGHTS = new Map(COUNTRIES.map((c) => [c.code, c.cities.map((x) => x.weight)]));
/** Regional languages of Spain, by region: [locale, share]. */
const REGIONAL_LOCALES: Record<string, [string, number]> = {
  Cataluña: ['ca-ES', 0.35],
  'Illes Balears': ['ca-ES', 0.25],
  'Comunitat Valenciana': ['ca-ES', 0.1],
  'País Vasco': ['eu-ES', 0.2],
  Galicia: ['gl-ES', 0.25],
};

export const FEMALE_ES =
  words(`María, Carmen, Lucía, Ana, Laura, Marta, Isabel, Cristina, Paula, Elena, Sara, Sofía,
  Julia, Pilar, Raquel, Alba, Patricia, Rocío, Beatriz, Irene, Nuria, Silvia, Teresa, Rosa, Mercedes, Alicia, Sonia,
  Eva, Andrea, Claudia, Noelia, Natalia, Inés, Lorena, Montserrat, Yolanda, Ainhoa, Nerea, Aitana, Martina, Carla,
  Lola, Olivia, Emma, Noa, María José, María Dolores, Ana Belén, Encarnación, Josefa, Marina, Blanca, Ángela,
  Esther, Miriam, Verónica`);
export const FEMALE_LATAM = words(`Valentina, Camila, Daniela, Valeria, Mariana, Gabriela, Ximena, Fernanda,
  Guadalupe, Florencia, Agustina, Catalina, Javiera, Antonella, Luciana, Milagros, Renata, Regina, Carolina,
  Adriana, Diana, Paola, Jimena, Victoria, Constanza, Francisca, Yesenia, Luz Marina, Ana Sofía, María Fernanda,
  Micaela, Abril, Juliana, Isidora, Rosario`);
export const MALE_ES = words(`Antonio, José, Manuel, Francisco, David, Juan, Javier, Daniel, Carlos, Jesús,
  Alejandro, Miguel, Rafael, Pablo, Pedro, Ángel, Sergio, Fernando, Jorge, Luis, Alberto, Álvaro, Adrián, Diego,
  Raúl, Iván, Rubén, Enrique, Óscar, Ramón, Andrés, Víctor, Mario, Roberto, Jaime, Ignacio, Alfonso, Hugo, Marcos,
  Martín, Lucas, Mateo, Leo, Iker, Unai, Pau, Jordi, Xavier, Aitor, José Luis, Juan Carlos, José Antonio,
  Francisco Javier, Gonzalo, Rodrigo, Guillermo`);
export const MALE_LATAM =
  words(`Santiago, Sebastián, Matías, Nicolás, Joaquín, Tomás, Benjamín, Felipe, Emiliano,
  Thiago, Facundo, Esteban, Cristian, Julián, Héctor, Eduardo, Ricardo, Gustavo, Emilio, Gael, Maximiliano,
  Agustín, Juan Pablo, Luis Miguel, Juan José, Andrés Felipe, Jhon, Brayan, Kevin, Bruno, Franco, Vicente,
  Alonso, Rodolfo, Arturo, Armando`);
export const COMMON_SURNAMES = words(`García, Rodríguez, González, Fernández, López, Martínez, Sánchez, Pérez,
  Gómez, Martín, Jiménez, Ruiz, Hernández, Díaz, Moreno, Muñoz, Álvarez, Romero, Alonso, Gutiérrez, Navarro,
  Torres, Domínguez, Vázquez, Ramos, Gil, Ramírez, Serrano, Blanco, Molina, Morales, Suárez, Ortega, Delgado,
  Castro, Ortiz, Rubio, Marín, Sanz, Núñez, Iglesias, Medina, Garrido, Cortés, Castillo, Santos, Lozano, Guerrero,
  Cano, Prieto, Méndez, Cruz, Calvo, Gallego, Vidal, León, Márquez, Herrera, Peña, Flores, Cabrera, Campos, Vega,
  Fuentes, Carrasco, Díez, Caballero, Reyes, Nieto, Aguilar, Pascual, Santana, Herrero, Lorenzo, Montero, Hidalgo,
  Giménez, Ibáñez, Ferrer, Durán, Santiago, Benítez, Mora, Vicente, Vargas, Arias, Carmona, Crespo, Román,
  Pastor, Soto, Sáez, Velasco, Moya, Soler, Parra, Esteban, Bravo, Gallardo, Rojas`);

/** Every first name and surname, in one indexable list each (email counters are keyed by index). */
export const FIRST_NAMES = [...FEMALE_ES, ...FEMALE_LATAM, ...MALE_ES, ...MALE_LATAM];
export const SURNAMES = [...COMMON_SURNAMES, ...COUNTRIES.flatMap((c) => c.surnames)];
const FIRST_INDEX = new Map(FIRST_NAMES.map((n, i) => [n, i]));
const SURNAME_INDEX = new Map(SURNAMES.map((n, i) => [n, i]));
const NAME_WEIGHTS = new Map<readonly string[], number[]>(
  [FEMALE_ES, FEMALE_LATAM, MALE_ES, MALE_LATAM, COMMON_SURNAMES, ...COUNTRIES.map((c) => c.surnames)].map(
    (list) => [list, zipf(list.length)],
  ),
);
const pickName = (rng: Rng, list: readonly string[]) => list[rng.weighted(NAME_WEIGHTS.get(list)!)]!;

/** Mail domains under the reserved `.example` TLD: no message can ever reach a real person. */
export const MAIL_DOMAINS = words(
  'gmail.example, hotmail.example, outlook.example, yahoo.example, icloud.example, live.example, telefonica.example, movistar.example',
);
const DOMAIN_WEIGHTS_ES = [50, 20, 8, 6, 8, 3, 4, 1];
const DOMAIN_WEIGHTS_LATAM = [55, 22, 8, 8, 3, 2, 0, 2];
/** Local-part patterns; each is injective in the name indices it is keyed by (checked in the tests). */
export const EMAIL_PATTERNS = [
  (f: string, l: string) => `${f}.${l}`,
  (f: string, l: string) => `${f}_${l}`,
  (f: string, l: string) => `${f[0]}${l}`,
  (f: string, l: string) => `${f[0]}.${l}`,
] as const;
const EMAIL_PATTERN_WEIGHTS = [50, 12, 26, 12];
/** Patterns that use only the first name's initial (their counters are keyed by it). */
const INITIAL_PATTERNS = new Set([2, 3]);

export const CATEGORIES = ['shoes', 'bags', 'accessories', 'clothing', 'sport'] as const;
export type Category = (typeof CATEGORIES)[number];
/** Per category: SKU prefix and [product, list price in EUR cents]. */
export const CATALOG: Record<Category, { code: string; products: [string, number][] }> = {
  shoes: {
    code: 'ZAP',
    products: [
      ['Zapatilla urbana', 5995],
      ['Zapatilla running', 8995],
      ['Botín de piel', 11995],
      ['Sandalia plana', 3995],
      ['Mocasín', 7995],
      ['Bota alta', 14995],
      ['Zapato de salón', 6995],
      ['Alpargata', 2995],
      ['Náutico', 6495],
    ],
  },
  bags: {
    code: 'BOL',
    products: [
      ['Bolso bandolera', 4995],
      ['Bolso shopper', 5995],
      ['Mochila de piel', 8995],
      ['Cartera de mano', 2995],
      ['Bolso de viaje', 9995],
      ['Riñonera', 2495],
      ['Maletín', 12995],
    ],
  },
  accessories: {
    code: 'ACC',
    products: [
      ['Cinturón de piel', 2995],
      ['Gafas de sol', 3995],
      ['Pañuelo de seda', 2495],
      ['Gorra', 1995],
      ['Bufanda', 2295],
      ['Monedero', 1995],
      ['Reloj', 8995],
      ['Calcetines (pack 3)', 995],
      ['Pendientes', 1495],
    ],
  },
  clothing: {
    code: 'ROP',
    products: [
      ['Camiseta básica', 1295],
      ['Camisa de lino', 3995],
      ['Vaquero slim', 4995],
      ['Vestido midi', 5995],
      ['Jersey de punto', 4495],
      ['Chaqueta', 8995],
      ['Abrigo de lana', 14995],
      ['Falda plisada', 3495],
      ['Sudadera', 3995],
      ['Blazer', 9995],
    ],
  },
  sport: {
    code: 'DEP',
    products: [
      ['Mallas deportivas', 2995],
      ['Camiseta técnica', 1995],
      ['Sudadera con capucha', 4495],
      ['Zapatilla trail', 10995],
      ['Bolsa de deporte', 3495],
      ['Top deportivo', 2495],
      ['Chándal', 6995],
      ['Esterilla de yoga', 2995],
    ],
  },
};
const PRODUCT_WEIGHTS = Object.fromEntries(
  CATEGORIES.map((c) => [c, zipf(CATALOG[c].products.length, 0.6, 1)]),
) as Record<Category, number[]>;
const COLOURS: [string, string][] = [
  ['Negro', 'NEG'],
  ['Blanco', 'BLA'],
  ['Azul marino', 'AZM'],
  ['Camel', 'CAM'],
  ['Rojo', 'ROJ'],
  ['Verde', 'VER'],
  ['Gris', 'GRI'],
  ['Beige', 'BEI'],
];

/** The custom attributes the demo defines (through the attributes service) before writing customers. */
export const DEMO_ATTRIBUTES = [
  { key: 'children', label: 'Hijos', type: 'number', description: 'Number of children' },
  {
    key: 'car',
    label: 'Coche',
    type: 'enum',
    values: ['none', 'compact', 'SUV', 'van', 'electric'],
    description: 'The car the customer drives',
  },
  {
    key: 'favouriteCategory',
    label: 'Categoría favorita',
    type: 'enum',
    values: [...CATEGORIES],
    description: 'The product category the customer buys most',
  },
  { key: 'shoeSize', label: 'Talla de calzado', type: 'number', description: 'EU shoe size' },
] as const;

// ---------------------------------------------------------------- the generator

/** Resolves generated references to the ids the database gave them (undefined: not written). */
export type Resolver = {
  customer: (index: number) => string | undefined;
  intermediary: (ref: string) => string | undefined;
};

const STREAM_CUSTOMER = 1;
const STREAM_INTERMEDIARY = 2;
const STREAM_SETUP = 3;

type Draft = { rng: Rng; acquired: number; prospect: boolean };
type Buyer = {
  rng: Rng;
  country: Country;
  city: City;
  nu: number;
  punctuality: number;
  storeAffinity: number;
  appShare: number;
  favourite: Category;
  club: boolean;
  newsletter: boolean;
  distributor?: string;
  manager?: string;
  prescriber?: DemoIntermediary;
};

export class DemoGenerator {
  readonly seed: number;
  readonly count: number;
  readonly currency: string;
  readonly params: DemoParams;
  /** The window: [start, until), in ms; day d is [start + d·DAY, start + (d+1)·DAY). */
  readonly start: number;
  readonly until: number;
  readonly days: number;
  readonly intermediaries: DemoIntermediary[];
  readonly #season: Float64Array;
  /** #cumulative[d] = Σ season of days before d. */
  readonly #cumulative: Float64Array;
  readonly #emailCounts: Uint32Array;
  readonly #phoneOffset: number;
  readonly #employees: Map<string, DemoIntermediary[]>;
  readonly #prescribers: Map<string, DemoIntermediary[]>;
  readonly #distributors: Map<string, DemoIntermediary[]>;
  #next = 0;
  #shopSeq = 0;
  #posSeq = 0;

  constructor(options: DemoOptions) {
    const { seed, customers, years, until } = options;
    if (!Number.isSafeInteger(seed)) throw new Error('seed must be an integer');
    if (!Number.isInteger(customers) || customers < 0 || customers > 10_000_000) {
      throw new Error('customers must be an integer from 0 to 10,000,000');
    }
    if (!(years > 0 && years <= 20)) throw new Error('years must be more than 0 and at most 20');
    if (Number.isNaN(until.getTime())) throw new Error('until must be a valid date');
    this.seed = seed;
    this.count = customers;
    this.currency = options.currency ?? 'EUR';
    if (!FX[this.currency]) {
      throw new Error(`the demo prices in ${Object.keys(FX).join(', ')}, not ${this.currency}`);
    }
    this.params = { ...DEFAULT_PARAMS, ...options.params };
    this.until = until.getTime();
    this.days = Math.round(years * 365.25);
    this.start = this.until - this.days * DAY;
    this.#season = new Float64Array(this.days);
    this.#cumulative = new Float64Array(this.days + 1);
    for (let d = 0; d < this.days; d++) {
      this.#season[d] = seasonOf(this.start + d * DAY);
      this.#cumulative[d + 1] = this.#cumulative[d]! + this.#season[d]!;
    }
    this.#emailCounts = new Uint32Array(
      EMAIL_PATTERNS.length * FIRST_NAMES.length * SURNAMES.length * MAIL_DOMAINS.length,
    );
    this.#phoneOffset = new Rng(seed, STREAM_SETUP).int(10_000_000);
    this.intermediaries = this.#makeIntermediaries();
    const byCountry = (kind: IntermediaryKind, key: (i: DemoIntermediary) => string) => {
      const map = new Map<string, DemoIntermediary[]>();
      for (const i of this.intermediaries.filter((x) => x.kind === kind)) {
        map.set(key(i), [...(map.get(key(i)) ?? []), i]);
        map.set('*', [...(map.get('*') ?? []), i]);
      }
      return map;
    };
    this.#employees = byCountry('employee', (i) => i.city!);
    this.#prescribers = byCountry('prescriber', (i) => i.country);
    this.#distributors = byCountry('distributor', (i) => i.country);
  }

  /** True once every customer has been generated. */
  get done(): boolean {
    return this.#next >= this.count;
  }

  /** The next customers, at most `size` (blocks must be taken in order: email counters carry over). */
  nextBlock(size = BLOCK): DemoCustomer[] {
    const block: DemoCustomer[] = [];
    while (block.length < size && this.#next < this.count) block.push(this.#customer(this.#next++));
    return block;
  }

  /** Season-weighted days from `t` (days since start, fractional) to the end of the window. */
  exposureFrom(t: number): number {
    const d = Math.floor(t);
    return this.#cumulative[this.days]! - this.#cumulative[d]! - this.#season[d]! * (t - d);
  }

  /** The first draws of customer i: cheap, so a customer can look at earlier ones (referrals). */
  #draft(i: number): Draft {
    const rng = new Rng(this.seed, STREAM_CUSTOMER, i);
    // more customers join later in the window (a growing business)
    const acquired = this.start + (this.until - this.start - DAY) * rng.next() ** 0.8;
    return { rng, acquired, prospect: rng.chance(this.params.prospectShare) };
  }

  #customer(index: number): DemoCustomer {
    const { rng, acquired, prospect } = this.#draft(index);
    const country = COUNTRIES[rng.weighted(COUNTRY_WEIGHTS)]!;
    const city = country.cities[rng.weighted(CITY_WEIGHTS.get(country.code)!)]!;
    const female = rng.chance(0.62);
    const [localNames, otherNames] = female ? [FEMALE_ES, FEMALE_LATAM] : [MALE_ES, MALE_LATAM];
    const firstName = pickName(
      rng,
      rng.chance(country.latam ? 0.45 : 0.88)
        ? country.latam
          ? otherNames
          : localNames
        : country.latam
          ? localNames
          : otherNames,
    );
    const surname = () => pickName(rng, rng.chance(0.8) ? COMMON_SURNAMES : country.surnames);
    const last1 = surname();
    const last2 = rng.chance(country.twoSurnames) ? surname() : undefined;
    const age = 18 + 67 * rng.beta(2.2, 3.2);
    const birthDate = iso(this.until - age * 365.2425 * DAY - DAY).slice(0, 10);
    const favourite = this.#favourite(rng, female);
    const attributes = this.#attributes(rng, age, female, city, country, favourite, prospect);

    // the purchase process (BG/NBD-like) and spend (Gamma-Gamma)
    const { rate, dropout, spend } = this.params;
    const lambda = rng.gamma(rate.shape, 1 / rate.rate);
    const p = rng.beta(dropout.a, dropout.b);
    const nu = rng.gamma(spend.q, 1 / spend.gamma);
    const t0 = (acquired - this.start) / DAY;
    const model: DemoCustomer['model'] = {
      lambda,
      dropout: p,
      exposure: this.exposureFrom(t0),
      droppedOut: false,
      returned: false,
      active: !prospect,
    };
    const times = prospect ? [] : this.#purchaseTimes(rng, t0, lambda, p, model);

    const buyer: Buyer = {
      rng,
      country,
      city,
      nu,
      punctuality: rng.beta(4, 1.3),
      storeAffinity: city.store ? rng.beta(1.6, 2.4) : 0,
      appShare: rng.beta(1.2, 3),
      favourite,
      club: !prospect && rng.chance(0.25),
      newsletter: rng.chance(prospect ? 0.85 : 0.5),
    };
    const distributors = this.#distributors.get(country.code) ?? [];
    if (!prospect && distributors.length && rng.chance(0.06)) buyer.distributor = rng.pick(distributors).ref;
    const valuePerDay = lambda * (spend.p / nu);
    const meanValuePerDay = (rate.shape / rate.rate) * ((spend.p * spend.gamma) / (spend.q - 1));
    const managed = prospect
      ? 0.005
      : buyer.distributor
        ? 0.4
        : valuePerDay > 3 * meanValuePerDay
          ? 0.6
          : 0.015;
    if (rng.chance(managed)) {
      const local = this.#employees.get(city.name) ?? this.#employees.get('*') ?? [];
      if (local.length) buyer.manager = rng.pick(local).ref;
    }
    let referredBy: DemoRef | undefined;
    const prescribers = this.#prescribers.get(country.code) ?? this.#prescribers.get('*') ?? [];
    if (prescribers.length && rng.chance(0.05)) {
      buyer.prescriber = rng.pick(prescribers);
      referredBy = { kind: 'intermediary', ref: buyer.prescriber.ref };
    } else if (rng.chance(0.08)) {
      const referrer = this.#referrer(rng, index, acquired);
      if (referrer !== undefined) referredBy = { kind: 'customer', index: referrer };
    }

    const orders = times.map((t, k) => this.#order(buyer, t, k === 0));
    orders.sort((a, b) => (a.placedAt < b.placedAt ? -1 : a.placedAt > b.placedAt ? 1 : 0));
    const since = prospect ? this.#signup(rng, acquired, country) : orders[0]!.placedAt;

    const profile = this.#profile(rng, {
      index,
      country,
      city,
      firstName,
      lastName: last2 ? `${last1} ${last2}` : last1,
      last1,
      birthDate,
      attributes,
      prospect,
      since,
      referred: referredBy !== undefined,
      buyer,
      orders,
    });
    return {
      index,
      since,
      prospect,
      profile,
      ...(referredBy ? { referredBy } : {}),
      ...(buyer.manager ? { accountManager: buyer.manager } : {}),
      orders,
      model,
    };
  }

  /**
   * Purchase times in days since the start: the first at acquisition; then a Poisson process of
   * rate λ·season(t) (by thinning); after each purchase the customer drops out with probability p;
   * a dropped-out customer may come back once after a long gap.
   */
  #purchaseTimes(rng: Rng, t0: number, lambda: number, p: number, model: DemoCustomer['model']): number[] {
    const { comeback, maxOrdersPerCustomer } = this.params;
    const times = [t0];
    let t = t0;
    let canReturn = true;
    while (times.length < maxOrdersPerCustomer) {
      if (rng.chance(p)) {
        if (!model.droppedOut) model.droppedOutAt = t;
        model.droppedOut = true;
        model.active = false;
        if (!canReturn || !rng.chance(comeback.probability)) break;
        canReturn = false;
        t += rng.between(comeback.minDays, comeback.maxDays);
        if (t >= this.days) break;
        model.returned = true;
        model.active = true;
        times.push(t);
        continue;
      }
      // next purchase: candidates at the peak rate, each kept with probability season/peak
      for (;;) {
        t += rng.exponential(lambda * SEASON_MAX);
        if (t >= this.days || rng.chance(this.#season[Math.floor(t)]! / SEASON_MAX)) break;
      }
      if (t >= this.days) break;
      times.push(t);
    }
    return times;
  }

  /** An earlier customer (written at least REFERRAL_LAG_BLOCKS blocks before) who bought before. */
  #referrer(rng: Rng, index: number, acquired: number): number | undefined {
    const eligible = (Math.floor(index / BLOCK) - REFERRAL_LAG_BLOCKS + 1) * BLOCK;
    if (eligible <= 0) return undefined;
    for (let attempt = 0; attempt < 6; attempt++) {
      const j = rng.int(eligible);
      const other = this.#draft(j);
      if (!other.prospect && other.acquired < acquired - 7 * DAY) return j;
    }
    return undefined;
  }

  #favourite(rng: Rng, female: boolean): Category {
    return CATEGORIES[rng.weighted(female ? [28, 20, 12, 30, 10] : [25, 7, 15, 28, 25])]!;
  }

  #attributes(
    rng: Rng,
    age: number,
    female: boolean,
    city: City,
    country: Country,
    favourite: Category,
    prospect: boolean,
  ): Record<string, string | number> {
    const known = () => rng.chance(prospect ? 0.6 : 0.88);
    const childWeights = age < 25 ? [85, 12, 3, 0, 0] : age < 35 ? [50, 28, 17, 4, 1] : [25, 25, 34, 12, 4];
    const children = rng.weighted(childWeights);
    const carWeights = [city.big ? 40 : 15, 40, 25, 6, country.latam ? 2 : 6];
    if (children >= 3) {
      carWeights[2]! += 25;
      carWeights[3]! += 20;
    }
    const car = (['none', 'compact', 'SUV', 'van', 'electric'] as const)[rng.weighted(carWeights)]!;
    const shoeSize = Math.round(
      Math.min(
        female ? 42 : 47,
        Math.max(female ? 35 : 38, female ? 38 + 1.3 * rng.normal() : 42.5 + 1.5 * rng.normal()),
      ),
    );
    const out: Record<string, string | number> = {};
    if (known()) out.children = children;
    if (known()) out.car = car;
    if (known()) out.favouriteCategory = favourite;
    if (known()) out.shoeSize = shoeSize;
    return out;
  }

  #signup(rng: Rng, acquired: number, country: Country): string {
    const day = Math.floor((acquired - this.start) / DAY);
    const hour = rng.weighted(WEB_HOURS) - country.tz;
    const at = this.start + day * DAY + hour * 3_600_000 + rng.int(3_600_000);
    return iso(Math.min(Math.max(at, this.start), this.until - 60_000));
  }

  #profile(
    rng: Rng,
    c: {
      index: number;
      country: Country;
      city: City;
      firstName: string;
      lastName: string;
      last1: string;
      birthDate: string;
      attributes: Record<string, string | number>;
      prospect: boolean;
      since: string;
      referred: boolean;
      buyer: Buyer;
      orders: DemoOrder[];
    },
  ): DemoProfile {
    const { country, city, prospect, buyer, orders } = c;
    const first = orders[0];
    const source = c.referred
      ? 'referral'
      : first?.channel === 'store' && rng.chance(0.7)
        ? 'store'
        : first?.channel === 'marketplace'
          ? 'marketplace'
          : rng.pick(
              [
                ['google', 24],
                ['instagram', 20],
                ['newsletter', prospect ? 20 : 8],
                ['facebook', 7],
                ['tiktok', 6],
                ['direct', 12],
                ['store', city.store ? 10 : 0],
              ].flatMap(([name, weight]) => Array<string>(weight as number).fill(name as string)),
            );
    const withEmail = prospect || !(source === 'store' && rng.chance(0.15));
    const email = withEmail ? this.#email(rng, c.firstName, c.last1, country) : undefined;
    const phone = rng.chance(prospect && email ? 0.35 : 0.75)
      ? this.#phone(rng, c.index, country, city)
      : undefined;
    const regional = REGIONAL_LOCALES[city.region];
    const locale = regional && rng.chance(regional[1]) ? regional[0] : country.locale;
    const address: DemoProfile['address'] = { city: city.name, region: city.region, country: country.code };
    if (rng.chance(prospect ? 0.35 : 0.85)) {
      address.line = this.#street(rng, country);
      address.postalCode =
        city.postal +
        pad(
          rng.int(10 ** (country.postalLength - city.postal.length)),
          country.postalLength - city.postal.length,
        );
    }
    const sinceMs = Date.parse(c.since);
    const consent: DemoProfile['consent'] = {};
    if (email && buyer.newsletter) {
      const withdrawn = sinceMs + rng.between(30, 400) * DAY;
      consent.email =
        rng.chance(0.08) && withdrawn < this.until
          ? { granted: false, at: iso(withdrawn) }
          : { granted: true, at: c.since };
    }
    if (phone && rng.chance(0.25)) consent.sms = { granted: true, at: c.since };
    if (phone && rng.chance(0.12)) consent.phone = { granted: true, at: c.since };
    if (address.line && rng.chance(0.08)) consent.mail = { granted: true, at: c.since };
    if (rng.chance(0.06)) consent.partnerSharing = { granted: rng.chance(0.7), at: c.since };

    const tags: string[] = [];
    if (consent.email?.granted) tags.push('newsletter');
    if (buyer.club) tags.push('club');
    if (buyer.distributor) tags.push('b2b');
    if (prospect) tags.push('lead');
    const days = orders.map((o) => Date.parse(o.placedAt));
    if (orders.length >= 3 && days.filter(inSales).length >= 0.6 * orders.length) tags.push('rebajas');
    if (days.some(blackFriday)) tags.push('black-friday');
    if (orders.length >= 2 && orders.filter((o) => o.channel === 'app').length >= orders.length / 2) {
      tags.push('app');
    }
    const profile: DemoProfile = {
      externalId: `C${pad(c.index + 1, 7)}`,
      firstName: c.firstName,
      lastName: c.lastName,
      locale,
      address,
      attributes: c.attributes,
      tags,
      consent,
      source,
    };
    if (email) profile.email = email;
    if (phone) profile.phone = phone;
    if (rng.chance(prospect ? 0.5 : 0.78)) profile.birthDate = c.birthDate;
    return profile;
  }

  /** A unique address derived from the name: the nth holder of the same local part gets n appended. */
  #email(rng: Rng, firstName: string, last1: string, country: Country): string {
    const pattern = rng.weighted(EMAIL_PATTERN_WEIGHTS);
    const domain = rng.weighted(country.latam ? DOMAIN_WEIGHTS_LATAM : DOMAIN_WEIGHTS_ES);
    const f = asciiName(firstName);
    const l = asciiName(last1);
    // patterns with the initial only are keyed by the initial, the others by the whole first name
    const fKey = INITIAL_PATTERNS.has(pattern) ? f.charCodeAt(0) - 97 : FIRST_INDEX.get(firstName)!;
    const key =
      ((pattern * FIRST_NAMES.length + fKey) * SURNAMES.length + SURNAME_INDEX.get(last1)!) *
        MAIL_DOMAINS.length +
      domain;
    const n = this.#emailCounts[key]!++;
    return `${EMAIL_PATTERNS[pattern]!(f, l)}${n ? n + 1 : ''}@${MAIL_DOMAINS[domain]}`;
  }

  /** A mobile number in the country's format; the last seven digits are a permutation of the index. */
  #phone(rng: Rng, index: number, country: Country, city: City): string {
    const t = pad((index * 7_654_321 + this.#phoneOffset) % 10_000_000, 7);
    const d = () => String(rng.int(10));
    const a = t.slice(0, 3);
    const b = t.slice(3);
    switch (country.code) {
      case 'ES':
        return `+34 ${rng.chance(0.85) ? 6 : 7}${d()}${t[0]} ${t.slice(1, 4)} ${t.slice(4)}`;
      case 'MX':
        return city.area.length === 2 ? `+52 ${city.area} ${d()}${a} ${b}` : `+52 ${city.area} ${a} ${b}`;
      case 'AR':
        return city.area.length === 2 ? `+54 9 ${city.area} ${d()}${a}-${b}` : `+54 9 ${city.area} ${a}-${b}`;
      case 'CO':
        return `+57 3${d()}${d()} ${a} ${b}`;
      case 'CL':
        return `+56 9 ${d()}${a} ${b}`;
      case 'PE':
        return `+51 9${d()}${t[0]} ${t.slice(1, 4)} ${t.slice(4)}`;
      default:
        return `+593 9${d()} ${a} ${b}`;
    }
  }

  #street(rng: Rng, country: Country): string {
    const street = rng.pick(country.streets);
    const n = 1 + rng.int(rng.chance(0.7) ? 60 : 400);
    switch (country.code) {
      case 'ES':
        return rng.chance(0.75)
          ? `${street} ${n}, ${1 + rng.int(8)}º ${'ABCD'[rng.int(4)]}`
          : `${street} ${n}`;
      case 'AR':
        return `${street} ${100 + n * 7}, ${1 + rng.int(12)}° ${'ABCDEF'[rng.int(6)]}`;
      case 'CO':
        return `${street} ${1 + rng.int(120)} # ${1 + rng.int(99)}-${1 + rng.int(99)}`;
      case 'CL':
        return `${street} ${100 + n * 9}, depto. ${100 * (1 + rng.int(15)) + 1 + rng.int(8)}`;
      case 'EC':
        return `${street} N${10 + rng.int(70)}-${1 + rng.int(99)}`;
      default:
        return `${street} ${n * 5}`;
    }
  }

  /** One order at `t` (days since start): channel, time of day, items, coupon, payment and status. */
  #order(b: Buyer, t: number, first: boolean): DemoOrder {
    const { rng, country, city } = b;
    const dayStart = this.start + Math.floor(t) * DAY;
    let channel: DemoOrder['channel'];
    if (b.distributor && rng.chance(0.85)) channel = 'distributor';
    else if (rng.chance(b.storeAffinity)) channel = 'store';
    else {
      channel = (['web', 'app', 'marketplace', 'phone', 'social'] as const)[
        rng.weighted([60 * (1 - b.appShare), 60 * b.appShare, 8, 3, 3])
      ]!;
    }
    // stores close on Sundays
    if (channel === 'store' && new Date(dayStart).getUTCDay() === 0) channel = 'web';
    const hour = rng.weighted(channel === 'store' ? STORE_HOURS : WEB_HOURS) - country.tz;
    // the local day, shifted back or forth a day when its UTC time falls outside the window
    let at = dayStart + hour * 3_600_000 + rng.int(3_600_000);
    if (at >= this.until) at -= DAY;
    if (at < this.start) at += DAY;
    const placed = Math.min(Math.max(at, this.start), this.until - 60_000);
    const currency = country.currency;
    const day = dayStart;

    // items, around a target value drawn from the customer's spend distribution
    const target = Math.max(800, rng.gamma(this.params.spend.p, 1 / b.nu));
    const items: DemoOrder['items'] = [];
    let eur = 0;
    while (items.length < 6) {
      const category = rng.chance(0.65) ? b.favourite : rng.pick(CATEGORIES);
      const { code, products } = CATALOG[category];
      const k = rng.weighted(PRODUCT_WEIGHTS[category]);
      const [product, price] = products[k]!;
      const [colour, colourCode] = COLOURS[rng.weighted([30, 18, 14, 10, 8, 7, 8, 5])]!;
      const quantity = 1 + rng.weighted([85, 12, 3]);
      const unitEur = inSales(day) && rng.chance(0.45) ? Math.round((price * 0.7) / 5) * 5 : price;
      const sku = `${code}-${pad(k + 1, 3)}-${colourCode}`;
      const unitPrice = { amount: localPrice(unitEur, currency), currency };
      const same = items.find((i) => i.sku === sku && i.unitPrice.amount === unitPrice.amount);
      if (same) same.quantity += quantity;
      else items.push({ sku, name: `${product} · ${colour}`, category, quantity, unitPrice });
      eur += unitEur * quantity;
      if (eur >= 0.75 * target) break;
    }
    const lines = items.reduce((sum, i) => sum + i.quantity * i.unitPrice.amount, 0);

    let couponCode: string | undefined;
    let percent = 0;
    let intermediary: string | undefined;
    if (channel !== 'distributor') {
      if (b.prescriber && (first || rng.chance(0.25))) {
        couponCode = b.prescriber.couponCode;
        percent = 10;
        intermediary = b.prescriber.ref;
      } else if (blackFriday(day) && rng.chance(0.5)) {
        couponCode = 'BLACKFRIDAY20';
        percent = 20;
      } else if (first && b.newsletter && rng.chance(0.3)) {
        couponCode = 'BIENVENIDA10';
        percent = 10;
      } else if (b.club && rng.chance(0.12)) {
        couponCode = 'CLUB5';
        percent = 5;
      }
    }
    const discount = Math.round((lines * percent) / 100);
    const delivered = channel === 'web' || channel === 'app' || channel === 'phone' || channel === 'social';
    const shipping =
      delivered && lines - discount < localPrice(5000, currency) ? localPrice(495, currency) : 0;
    const total = lines - discount + shipping;
    if (channel === 'distributor') intermediary = b.distributor;
    if (channel === 'store' && b.manager && rng.chance(0.6)) intermediary = b.manager;

    // payment: immediate, or with a due date (invoices, pay later, transfers, cash vouchers)
    let method: string;
    let dueDays = 0;
    if (channel === 'store') method = rng.chance(0.75) ? 'card' : 'cash';
    else if (channel === 'distributor') [method, dueDays] = ['invoice', rng.chance(0.65) ? 30 : 60];
    else if (channel === 'marketplace') method = 'marketplace';
    else if (channel === 'phone') [method, dueDays] = rng.chance(0.5) ? ['card', 0] : ['transfer', 7];
    else {
      const [m, , due] = country.payments[rng.weighted(country.payments.map((x) => x[1]))]!;
      [method, dueDays] = [m, due];
    }
    const dueAt = dueDays ? placed + dueDays * DAY : undefined;
    let paidAt: number | undefined;
    if (dueAt === undefined) paidAt = Math.min(placed + 5_000 + rng.int(115_000), this.until - 1000);
    else {
      const paid = rng.chance(b.punctuality)
        ? placed + rng.between(0.05, 1) * (dueAt - placed)
        : dueAt + rng.gamma(1.5, 12) * DAY;
      if (paid < this.until) paidAt = paid;
    }

    // status: a few cancellations and refunds; the rest paid, and fulfilled after a few days
    let status: DemoOrder['status'];
    let refunded = 0;
    let updated = placed;
    const u = rng.next();
    const refundAt = (paidAt ?? placed) + rng.between(7, 40) * DAY;
    const fulfilledAt = placed + rng.between(1, 4) * DAY;
    if (u < 0.04) {
      status = 'cancelled';
      paidAt = undefined;
      updated = Math.min(placed + rng.between(0.01, 2) * DAY, this.until - 1000);
    } else if (paidAt !== undefined && u < 0.065 && refundAt < this.until) {
      status = 'refunded';
      refunded = total;
      updated = refundAt;
    } else if (paidAt !== undefined && u < 0.1 && refundAt < this.until && total > 1) {
      status = 'partially_refunded';
      const line = items.length > 1 ? rng.pick(items) : undefined;
      const part = line ? line.unitPrice.amount : Math.round(total * rng.between(0.2, 0.6));
      refunded = Math.min(total - 1, Math.max(1, part));
      updated = refundAt;
    } else if (
      fulfilledAt < this.until - 3 * DAY ||
      (paidAt === undefined && placed < this.until - 3 * DAY)
    ) {
      status = 'fulfilled';
      updated = Math.max(Math.min(fulfilledAt, this.until - 1000), paidAt ?? placed);
    } else status = paidAt === undefined ? 'placed' : 'paid';
    if (status !== 'cancelled' && paidAt !== undefined) updated = Math.max(updated, paidAt);

    const store = channel === 'store';
    const order: DemoOrder = {
      source: store ? `pos-${slug(city.name)}` : 'shop',
      externalId: store ? `T${pad(++this.#posSeq, 8)}` : `#${100_000 + ++this.#shopSeq}`,
      placedAt: iso(placed),
      status,
      total: { amount: total, currency },
      items,
      channel,
      payment: { method },
      sourceUpdatedAt: iso(Math.min(updated, this.until - 1000)),
    };
    if (discount) order.discount = { amount: discount, currency };
    if (shipping) order.shipping = { amount: shipping, currency };
    if (refunded) order.refunded = { amount: refunded, currency };
    if (currency !== this.currency) {
      const base = Math.round((total / FX[currency]!.perEurCent) * FX[this.currency]!.perEurCent);
      order.baseTotal = { amount: base, currency: this.currency };
    }
    if (dueAt !== undefined && status !== 'cancelled') order.payment.dueAt = iso(dueAt);
    if (paidAt !== undefined) order.payment.paidAt = iso(paidAt);
    if (couponCode) order.couponCode = couponCode;
    if (intermediary) order.intermediary = intermediary;
    return order;
  }

  /** Employees (one per store city first), prescribers with their coupon codes, distributors per country. */
  #makeIntermediaries(): DemoIntermediary[] {
    const rng = new Rng(this.seed, STREAM_INTERMEDIARY);
    const n = this.count;
    const clamp = (x: number, min: number, max: number) => Math.max(min, Math.min(max, Math.round(x)));
    const stores = COUNTRIES.flatMap((c) => c.cities.filter((x) => x.store).map((city) => ({ c, city })));
    const out: DemoIntermediary[] = [];
    const person = (country: Country) => {
      const female = rng.chance(0.55);
      const names =
        country.latam === rng.chance(0.2)
          ? female
            ? FEMALE_ES
            : MALE_ES
          : female
            ? FEMALE_LATAM
            : MALE_LATAM;
      const first = pickName(rng, names);
      return { first, last: pickName(rng, COMMON_SURNAMES) };
    };
    const phone = (c: Country, city = c.cities[0]!) => this.#phone(rng, n + out.length, c, city);
    const employees = clamp(n / 2500, stores.length, 400);
    for (let k = 0; k < employees; k++) {
      const { c, city } = stores[k % stores.length]!;
      const { first, last } = person(c);
      out.push({
        ref: `employee:${k}`,
        kind: 'employee',
        name: `${first} ${last}`,
        email: `${asciiName(first)}.${asciiName(last)}.${k + 1}@tienda.example`,
        phone: phone(c, city),
        externalId: `emp-${pad(k + 1, 4)}`,
        country: c.code,
        city: city.name,
      });
    }
    const codes = new Set<string>();
    const prescribers = clamp(n / 1500, 3, 700);
    for (let k = 0; k < prescribers; k++) {
      const c = COUNTRIES[rng.weighted(COUNTRY_WEIGHTS)]!;
      const { first, last } = person(c);
      const business = rng.chance(0.25);
      const name = business
        ? `${rng.pick(['Estudio de estilo', 'Club de running', 'Personal shopper', 'Blog de moda'])} ${last}`
        : `${first} ${last}`;
      let code = `${asciiName(business ? last : first).toUpperCase()}10`;
      for (let i = 2; codes.has(code); i++) code = `${asciiName(business ? last : first).toUpperCase()}${i}0`;
      codes.add(code);
      out.push({
        ref: `prescriber:${k}`,
        kind: 'prescriber',
        name,
        email: `${asciiName(name).slice(0, 30)}.${k + 1}@colabora.example`,
        phone: phone(c),
        externalId: `pres-${pad(k + 1, 4)}`,
        country: c.code,
        couponCode: code,
      });
    }
    const names = new Set<string>();
    const distributors = clamp(n / 30_000, COUNTRIES.length, 60);
    for (let k = 0; k < distributors; k++) {
      const c = k < COUNTRIES.length ? COUNTRIES[k]! : COUNTRIES[rng.weighted(COUNTRY_WEIGHTS)]!;
      let name: string;
      do {
        const kind = rng.pick(['Distribuciones', 'Comercial', 'Moda', 'Calzados', 'Grupo', 'Importadora']);
        name = `${kind} ${rng.pick(c.regionWords)}${names.size >= 20 ? ` ${k + 1}` : ''} ${c.legal}`;
      } while (names.has(name));
      names.add(name);
      out.push({
        ref: `distributor:${k}`,
        kind: 'distributor',
        name,
        email: `pedidos.${k + 1}@${slug(name).slice(0, 30)}.example`,
        phone: phone(c),
        externalId: `dist-${pad(k + 1, 3)}`,
        country: c.code,
      });
    }
    return out;
  }
}

/** The customer as the API takes it (`POST /v1/customers/batch`, or an order's `customer`). */
export function customerBody(c: DemoCustomer, resolve: Resolver): Record<string, unknown> {
  const body: Record<string, unknown> = { ...c.profile };
  const ref = c.referredBy;
  const referrer =
    ref && (ref.kind === 'customer' ? resolve.customer(ref.index) : resolve.intermediary(ref.ref));
  if (ref && referrer) body.referredBy = { kind: ref.kind, id: referrer };
  const manager = c.accountManager && resolve.intermediary(c.accountManager);
  if (manager) body.accountManagerId = manager;
  return body;
}

/** The order as the API takes it (`POST /v1/orders/batch` items). */
export function orderBody(o: DemoOrder, customer: Record<string, unknown>, resolve: Resolver) {
  const { intermediary, ...rest } = o;
  const id = intermediary && resolve.intermediary(intermediary);
  return { ...rest, customer, ...(id ? { intermediaryId: id } : {}) };
}
