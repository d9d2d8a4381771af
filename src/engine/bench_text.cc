#include "engine/bench_text.h"

namespace dsv3 {

std::string_view bench_passage() {
  return "The town stood on the north bank of the river, where the old road from the coast "
         "crossed the water on a bridge of grey stone. For most of the year it was a quiet "
         "place. The farmers came in on market days to sell their grain and cattle, the "
         "children went to the school beside the church, and in the evenings the men sat in "
         "front of the hotel and talked about the weather and the price of land.\n\n"
         "In the spring of that year, however, the town council decided that the bridge was "
         "no longer safe. A committee was formed to study the matter, and after several "
         "meetings it reported that a new bridge would cost more than the town could pay. "
         "The mayor wrote to the state government to ask for help, and the newspaper printed "
         "a long article about the history of the river and the people who had lived along "
         "it.\n\n"
         "Many of the older residents were against the plan. They said that the bridge had "
         "stood for a hundred years and would stand for a hundred more, and that the money "
         "should be spent on the roads and the school. Others argued that the town could not "
         "grow if the trucks from the new factory had to go twenty miles around by the "
         "highway. The debate went on through the summer, in the council chamber, in the "
         "churches and in the letters that filled two pages of the paper every week.\n\n"
         "At last, in September, the people voted. It was the largest vote in the history of "
         "the county, and when the result was announced the crowd in front of the court "
         "house was silent for a moment before it began to cheer.";
}

}  // namespace dsv3
