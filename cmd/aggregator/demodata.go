package main

// The demo's sample outlets. Every text here was written for this project:
// five invented outlets report the same few events in their own words (the
// march of ../shared/seed/anniversary-report.txt among them), each also
// carries stories nobody else has, and two carry the same wire story under
// the same link with different tracking parameters.

// demoStory is one item of one sample outlet. Age is how long before the
// demo started it was published, in minutes.
type demoStory struct {
	slug    string
	title   string
	summary string
	age     int
}

// demoOutlet is one sample feed and the format it is served in.
type demoOutlet struct {
	name, title, format string
	stories             []demoStory
}

var demoOutlets = []demoOutlet{
	{name: "tigris-herald", title: "Tigris Herald", format: "rss", stories: []demoStory{
		{"soleimani-anniversary-march", "Thousands march in Baghdad two years after Soleimani killing",
			"Crowds carrying flags and portraits walked towards Baghdad airport, where the Iranian general Qasem Soleimani and the militia leader Abu Mahdi al-Muhandis died in a US drone strike two years ago, chanting for revenge.", 95},
		{"central-bank-holds", "Central bank leaves interest rates unchanged, signals cuts later in the year",
			"Policymakers kept the benchmark rate at 4.5 percent for a third meeting, but the governor said falling inflation could allow cuts before the end of the year.", 300},
		{"river-floods-north", "Floods force thousands from homes along the northern river",
			"Days of heavy rain pushed the river over its banks, and emergency services evacuated more than 6,000 residents from low-lying districts overnight.", 520},
		{"date-harvest", "Record date harvest lifts farmers in the south",
			"Growers in Basra province expect their best season in a decade after a mild spring and new irrigation channels.", 700},
		{"museum-reopens", "National museum reopens its Assyrian gallery after restoration",
			"Visitors can again see the winged bulls and palace reliefs, restored over four years with help from international conservators.", 1300},
	}},
	{name: "meridian-wire", title: "Meridian Wire", format: "rss", stories: []demoStory{
		{"iraq-soleimani-rally", "Iraqis rally on anniversary of Soleimani assassination, vow revenge",
			"Thousands of supporters of Iraq's Popular Mobilisation Forces marched on Monday to mark two years since the US strike near Baghdad airport that killed Qasem Soleimani, with placards promising revenge.", 80},
		{"rates-on-hold", "Rates on hold as central bank eyes cooling inflation",
			"The central bank held its key rate at 4.5% on Thursday and said it expects to begin lowering borrowing costs later this year if inflation keeps easing.", 290},
		{"wire-satellite-launch", "Weather satellite lifts off on first flight of new rocket",
			"A new medium-lift rocket carried a polar-orbiting weather satellite to orbit on its maiden flight, the launch company said.", 410},
		{"chess-final", "Teenager wins national chess title in final-round upset",
			"The 16-year-old beat the defending champion with the black pieces to take the title on tiebreaks.", 900},
	}},
	{name: "northern-daily", title: "The Northern Daily", format: "atom", stories: []demoStory{
		{"baghdad-airport-march-anniversary", "Mourners converge on Baghdad airport to mark Soleimani anniversary",
			"Protesters chanting slogans against the United States marched towards the airport road where the Quds Force commander was killed in January 2020, many holding posters of him and of al-Muhandis.", 70},
		{"flood-evacuations", "River bursts its banks: 6,000 evacuated in northern districts",
			"Rescue teams used boats to reach families cut off by floodwater after the river rose two metres in 48 hours following torrential rain.", 500},
		{"wire-satellite-launch", "Weather satellite lifts off on first flight of new rocket",
			"A new medium-lift rocket carried a polar-orbiting weather satellite to orbit on its maiden flight, the launch company said.", 405},
		{"bridge-tolls", "City council votes to scrap tolls on the old bridge",
			"Councillors voted 31 to 12 to remove the tolls from next spring, saying traffic on the ring road had fallen since the bypass opened.", 640},
		{"football-derby", "Late penalty settles a bad-tempered derby",
			"A stoppage-time penalty gave the home side a 2-1 win in a match with three red cards.", 1100},
	}},
	{name: "capital-observer", title: "Capital Observer", format: "rss", stories: []demoStory{
		{"soleimani-two-years", "Two years on, Iraq's pro-Iran factions march to remember Soleimani",
			"Supporters of Iran-aligned factions marched through Baghdad on the second anniversary of the drone strike that killed Qasem Soleimani, as the hashtag #InternationalHeroDay trended online.", 60},
		{"central-bank-decision", "Central bank keeps rates at 4.5%, hints at cuts ahead",
			"The bank's rate-setting committee voted unanimously to hold and said a first cut could come in the autumn if price growth continues to slow.", 280},
		{"wire-satellite-launch", "Weather satellite lifts off on first flight of new rocket",
			"A new medium-lift rocket carried a polar-orbiting weather satellite to orbit on its maiden flight, the launch company said.", 400},
		{"opera-season", "Opera house opens its season with a rarely staged Verdi",
			"The company's new music director conducted a production of I due Foscari, unseen in the capital for forty years.", 820},
	}},
	{name: "global-dispatch", title: "Global Dispatch", format: "json", stories: []demoStory{
		{"iraq-anniversary-protest", "Iraq: crowds mark second anniversary of Soleimani and Muhandis deaths",
			"In Baghdad, thousands took part in a symbolic funeral procession and marched towards the airport, the site of the 2020 US drone strike, two years after the killing of Qasem Soleimani.", 50},
		{"northern-floods", "Northern floods: evacuations as river reaches record level",
			"Authorities ordered evacuations in several northern districts as the river reached its highest level on record after days of rain.", 480},
		{"coral-study", "Study finds heat-tolerant corals spreading on the reef",
			"Researchers counted more heat-tolerant coral colonies than a decade ago, a sign that some reefs may adapt to warmer seas.", 1000},
	}},
}
