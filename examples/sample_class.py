"""The sample class: twelve short student essays (with the misspellings students make) and the
format each is handed in as. `make_sample_class.py` writes them to examples/essays/."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SampleEssay:
    """One student's essay: the file it is handed in as, its title and its paragraphs."""

    file_name: str
    title: str
    paragraphs: tuple[str, ...]

    @property
    def file_format(self) -> str:
        """The file's extension: txt, md, html, rtf, docx or pdf."""
        return self.file_name.rsplit(".", 1)[1]


# A file that is cut off part-way, as an interrupted download leaves it: the File Service rejects
# it with CORRUPT_FILE and the batch still completes (COMPLETED_WITH_FAILURES).
BROKEN_FILE_NAME = "oscar_reid_history.pdf"

ESSAYS: tuple[SampleEssay, ...] = (
    SampleEssay(
        "amira_hassan_phones.txt",
        "Should Phones Be Banned in School?",
        (
            "Many peple think that phones should be banned in school becuase they distract "
            "students from learning. I understand this view, but I do not fully agree with it.",
            "It is true that some students play games or check social media in lessons instead "
            "of listening to the teacher. This is a real problem and it makes it harder for "
            "everyone to concentrate. However, phones can also be a usefull tool. We can look "
            "up words we do not know, take photos of the whiteboard and use a calculator.",
            "In my opinion the best solution is clear rules. Phones should stay in bags during "
            "lessons unless the teacher says we may use them for a task. If a student breaks "
            "the rule, the phone goes to the office untill the end of the day. This way we "
            "learn to be responsible insted of just being told no.",
        ),
    ),
    SampleEssay(
        "ben_okafor_climate.docx",
        "What Young People Can Do About Climate Change",
        (
            "Climate change is one of the biggest problems of our time, and many young people "
            "feel that they cannot do anything about it. I beleive this is wrong.",
            "First, we can change our own habits. Walking or cycling to school instead of "
            "getting a lift saves fuel, and eating less meat reduces the gases that farms "
            "produce. These things seem small, but if thousands of students do them the "
            "diffrence is huge.",
            "Second, we can speak up. Young people have organised strikes and marches all over "
            "the world, and the goverment has started to listen. Writing to our local council "
            "about bike lanes or recycling bins is another way to make our voices heard.",
            "Finaly, we can learn. The more we understand about the enviroment, the better "
            "choices we will make when we are adults and have jobs and votes of our own.",
        ),
    ),
    SampleEssay(
        "chloe_martin_uniforms.pdf",
        "School Uniforms: For or Against?",
        (
            "At my school everyone has to wear a uniform, and every year there is an arguement "
            "about whether we should keep it.",
            "People who support uniforms say that they make everyone equal. Nobody is judged "
            "for wearing cheap clothes, and getting ready in the morning is quicker because you "
            "do not have to choose an outfit. Some teachers also say that a uniform helps "
            "students to take school seriously.",
            "On the other hand, uniforms are expensive for familys who have to buy new ones "
            "every year as their children grow. They also stop us from showing our personality. "
            "I think it is wierd that we are told to be creative but must all look the same.",
            "Overall I am against strict uniforms, but a simple dress code would be a good "
            "compromise that keeps the advantages without the cost.",
        ),
    ),
    SampleEssay(
        "daniel_kim_video_games.html",
        "Are Video Games Bad for Teenagers?",
        (
            "Adults often say that video games are a waste of time, but I think the truth is "
            "more complicated.",
            "Some games really are addictive. I have freinds who play until two in the morning "
            "and then fall asleep in maths. Playing for too long can also mean that you do not "
            "get enough exersise or see people in real life.",
            "However, many games teach useful skills. Strategy games train you to plan ahead, "
            "and online games teach teamwork and comunication with players from other "
            "countries. I even learned a lot of English vocabulary from games before we "
            "studied it at school.",
            "In conclusion, video games are not bad in themselves. The problem is playing too "
            "much, and parents and teenagers should agree on sensible limits together.",
        ),
    ),
    SampleEssay(
        "elin_svensson_summer_job.md",
        "My First Summer Job",
        (
            "Last summer I worked in a café near the harbour. It was my first real job and I "
            "learned more than I expected.",
            "At the begining I was very nervous. I dropped a tray of glasses on my second day "
            "and I thought the manager would be angry, but she just laughed and showed me how "
            "to carry it properly. After a few weeks I could remember complicated orders and "
            "talk to tourists in English.",
            "The most important thing I learned was responsability. If I was late, someone "
            "else had to do my work, so I always arrived on time. I also learned that the "
            "customers are not always polite, and that staying calm is a skill.",
            "I would definately recommend a summer job to anyone my age. You earn money, but "
            "you also gain expirience that no classroom can give you.",
        ),
    ),
    SampleEssay(
        "farah_ali_reading.rtf",
        "Why Reading for Pleasure Matters",
        (
            "Fewer teenagers read books for fun than in the past, and I think this is a shame.",
            "Reading improves your vocabulary and your writing without you even noticing it. "
            "When I started reading fantasy novels, my English teacher said that my essays "
            "became more interesting and my spelling got better, which was suprising because I "
            "was not trying to study at all.",
            "Books also help us understand other people. A novel lets you see the world through "
            "the eyes of someone from a diffrent country, time or family, and this builds "
            "empathy.",
            "Schools could encourage reading by giving students time to read books they choose "
            "themselves, and by making the libary a comfortable place to spend breaks. If "
            "reading feels like a pleasure instead of homework, more students will realy "
            "enjoy it.",
        ),
    ),
    SampleEssay(
        "george_brown_homework.txt",
        "Is Homework Necessary?",
        (
            "Homework is a part of school life that almost every student complains about. But "
            "is it actually necesary?",
            "Supporters say that homework helps us practise what we learned in class and "
            "prepares us for exams. I agree that some practise is useful, especially in "
            "subjects like maths and languages where you need to repeat things to remember "
            "them.",
            "However, too much homework causes stress. Many students also have sports, music "
            "or part-time jobs, and they do not have enough time to relax or sleep. When I have "
            "three diffrent assignments on the same evening, I rush them and do not learn "
            "anything.",
            "I think teachers should coordinate so that we do not get too much on one day, and "
            "homework should be short and meaningfull rather than long and boring.",
        ),
    ),
    SampleEssay(
        "hannah_lee_volunteering.docx",
        "What I Learned From Volunteering",
        (
            "For the past year I have volunteered at an animal shelter every Saturday morning.",
            "The work is not glamorous. I clean cages, fill water bowls and walk dogs in the "
            "rain. But I have learned how important it is to be reliable, because the animals "
            "depend on us and the shelter does not have enough staff.",
            "Volunteering has also improved my confidence. At first I was too shy to talk to "
            "visitors, but now I can explain how the adoption process works and answer thier "
            "questions. I have met people of all ages who care about the same things as me.",
            "I think every school should encourage students to volunteer in thier comunity. "
            "It teaches skills that are hard to learn in a classroom and it makes a real "
            "diffrence to the people and animals you help.",
        ),
    ),
    SampleEssay(
        "isak_nilsson_city_or_country.pdf",
        "City Life or Country Life?",
        (
            "I grew up in a small village, but two years ago my family moved to the city. This "
            "has made me think about wich is the better place to live.",
            "The city has many advantages. There are more shops, cinemas and sports clubs, and "
            "the buses run every ten minutes, so I can go anywhere without asking my parents "
            "for a lift. There are also more oportunities to find a job.",
            "On the other hand, the countryside is quieter and the air is cleaner. In the "
            "village everyone knew each other and I felt safe walking home at night. In the "
            "city I sometimes feel lonely even though I am surrounded by people.",
            "In the end I prefer the city for now, because it suits my age, but I would like "
            "to live in the country agian when I am older.",
        ),
    ),
    SampleEssay(
        "julia_santos_public_transport.html",
        "Free Public Transport for Students",
        (
            "In some cities, students can use buses and trains for free. I believe that every "
            "city should introduce this idea.",
            "First of all, free transport helps familys who do not have much money. A monthly "
            "bus card is expensive, and some students walk a long way in bad weather becuase "
            "they cannot afford it.",
            "Free transport is also better for the environment. If more young people use the "
            "bus, fewer parents will drive them to school, and there will be less trafic and "
            "pollution near schools in the morning.",
            "Some people argue that it would cost the city too much. However, I think it is an "
            "investment in the future, because students who get used to public transport will "
            "probaly keep using it when they are adults.",
        ),
    ),
    SampleEssay(
        "karim_haddad_four_day_week.md",
        "Should Schools Have a Four-Day Week?",
        (
            "Some schools have started to teach only four days a week, with longer lessons on "
            "those days. I think this is an interesting idea, but it has problems.",
            "The main advantage is that students and teachers get a longer weekend to rest, "
            "and the school saves money on heating and buses. Students could use the extra day "
            "for hobbies, part-time work or catching up on assignments.",
            "However, longer school days are tiring, and it is hard to concentrate in the last "
            "lesson of a long day. Parents who work five days would also need to find someone "
            "to look after younger children on the fifth day, wich is not easy.",
            "In my opinion the disadvantages are bigger than the benefits at the moment. "
            "Schools should try it as an experiment first and then decide based on the "
            "results, not just on the savings.",
        ),
    ),
    SampleEssay(
        "lena_fischer_online_learning.rtf",
        "Learning Online or in the Classroom",
        (
            "During the pandemic my school moved all lessons online for several months. It was "
            "a strange experiance, and it showed me what I value about school.",
            "Online learning had some good points. I could sleep longer, work at my own speed "
            "and watch recorded lessons again when I did not understand something. Quiet "
            "students also found it easier to ask questions in the chat.",
            "But I missed my freinds and the feeling of being part of a class. It was easy to "
            "lose motivation when nobody could see if I was working, and the internet "
            "conection at home often failed during tests.",
            "I think the future is a mix of both. Recorded lessons and online homework are "
            "useful, but real classrooms are still neccessary for discussion, practical work "
            "and friendship.",
        ),
    ),
)

BROKEN_ESSAY = SampleEssay(
    BROKEN_FILE_NAME,
    "The Causes of the First World War",
    (
        "The First World War began in 1914, but its causes go back many years before the "
        "assassination of Archduke Franz Ferdinand in Sarajevo.",
        "Historians often talk about militarism, alliances, imperialism and nationalism. The "
        "great powers of Europe were competing for colonies and building larger armies.",
    ),
)
